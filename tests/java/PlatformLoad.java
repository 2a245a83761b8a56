// What the platform does with a destination's two stores, and nothing more:
//
//   KeyStore ks = KeyStore.getInstance("JKS"); ks.load(bytes, keystorePass);
//   KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm()).init(ks, keystorePass);
//   KeyStore ts = KeyStore.getInstance("JKS"); ts.load(bytes, truststorePass);
//   TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).init(ts);
//
// plus, to say what came of it: getKey(alias, keystorePass) on every key entry,
// the alias the key manager would offer a server that lists no CA names
// (chooseClientAlias over RSA, EC, DSA and RSASSA-PSS), and the number of trust
// anchors the trust manager accepts. The reference of tests/test_foreign_stores.py.
//
//   java -cp DIR PlatformLoad KEYSTORE_FILE TRUSTSTORE_FILE
//   (passwords from the environment: PLATFORM_KEYSTORE_PASS, PLATFORM_TRUSTSTORE_PASS)
//   java -cp DIR PlatformLoad < destinations.tsv
//   (one destination a line: keystoreFile TAB keystorePass TAB truststoreFile TAB truststorePass)
//
// Prints one JSON line per destination:
//   {"java": "21.0.8",
//    "keystore": {"loaded": true, "error": null | {"class", "message", "causes": ["Class: message"]},
//                 "pkcs12Error": (when not loaded) what KeyStore.getInstance("PKCS12").load threw, or null,
//                 "aliases": [...], "keyEntries": [...], "certEntries": n,
//                 "keys": {"alias": "recovered" | "ExceptionClass: message"}, "chains": {"alias": length},
//                 "kmf": null | error, "clientAlias": "alias" | null},
//    "truststore": {"loaded": ..., "error": ..., "aliases": [...], "keyEntries": [...], "certEntries": n,
//                   "tmf": null | error, "anchors": n}}
// Compiled with --release 11 so that every JDK of the test matrix runs it.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.io.ByteArrayInputStream;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509KeyManager;
import javax.net.ssl.X509TrustManager;

public final class PlatformLoad {
    private static final String[] KEY_TYPES = {"RSA", "EC", "DSA", "RSASSA-PSS"};

    public static void main(String[] args) throws Exception {
        if (args.length == 2) {
            System.out.println(judge(args[0], password("PLATFORM_KEYSTORE_PASS"), args[1],
                password("PLATFORM_TRUSTSTORE_PASS")));
            return;
        }
        // No arguments: one destination per line of standard input, tab-separated
        // (keystoreFile, keystorePass, truststoreFile, truststorePass); one JSON line each.
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] f = line.split("\t", -1);
            System.out.println(judge(f[0], f[1].toCharArray(), f[2], f[3].toCharArray()));
        }
    }

    private static String judge(String keystoreFile, char[] keystorePass, String truststoreFile,
                                char[] truststorePass) throws Exception {
        StringBuilder out = new StringBuilder("{");
        out.append("\"java\":").append(quote(System.getProperty("java.version")));
        out.append(",\"keystore\":").append(keystore(keystoreFile, keystorePass));
        out.append(",\"truststore\":").append(truststore(truststoreFile, truststorePass));
        return out.append('}').toString();
    }

    private static char[] password(String variable) {
        String value = System.getenv(variable);
        return value == null ? null : value.toCharArray();
    }

    /** A loaded store, or the exception load threw (and then what PKCS12 itself says). */
    private static final class Loaded {
        KeyStore store;
        Throwable error;
        Throwable pkcs12Error;
    }

    private static Loaded load(String file, char[] password) {
        Loaded loaded = new Loaded();
        byte[] bytes = new byte[0];
        try {
            bytes = Files.readAllBytes(Paths.get(file));
            KeyStore store = KeyStore.getInstance("JKS");
            store.load(new ByteArrayInputStream(bytes), password);
            loaded.store = store;
            return loaded;
        } catch (Throwable e) {
            loaded.error = e;
        }
        // Not what the platform does: the JKS type's PKCS12 fallback hides why PKCS12
        // failed ("Invalid keystore format"), so ask PKCS12 itself, for the reason only.
        try {
            KeyStore.getInstance("PKCS12").load(new ByteArrayInputStream(bytes), password);
        } catch (Throwable e) {
            loaded.pkcs12Error = e;
        }
        return loaded;
    }

    /** aliases, keyEntries, certEntries of a loaded store (and loaded/error). */
    private static Map<String, String> entries(Loaded loaded, List<String> keyAliases) throws Exception {
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("loaded", String.valueOf(loaded.store != null));
        fields.put("error", error(loaded.error));
        if (loaded.store == null) {
            fields.put("pkcs12Error", error(loaded.pkcs12Error));
            return fields;
        }
        List<String> aliases = Collections.list(loaded.store.aliases());
        Collections.sort(aliases);
        int certEntries = 0;
        for (String alias : aliases) {
            if (loaded.store.isKeyEntry(alias)) {
                keyAliases.add(alias);
            } else if (loaded.store.isCertificateEntry(alias)) {
                certEntries++;
            }
        }
        fields.put("aliases", strings(aliases));
        fields.put("keyEntries", strings(keyAliases));
        fields.put("certEntries", String.valueOf(certEntries));
        return fields;
    }

    private static String keystore(String file, char[] password) throws Exception {
        Loaded loaded = load(file, password);
        List<String> keyAliases = new ArrayList<>();
        Map<String, String> fields = entries(loaded, keyAliases);
        if (loaded.store != null) {
            Map<String, String> keys = new LinkedHashMap<>();
            Map<String, String> chains = new LinkedHashMap<>();
            for (String alias : keyAliases) {
                try {
                    loaded.store.getKey(alias, password);
                    keys.put(alias, quote("recovered"));
                } catch (Throwable e) {
                    keys.put(alias, quote(e.getClass().getName() + ": " + e.getMessage()));
                }
                Certificate[] chain = loaded.store.getCertificateChain(alias);
                chains.put(alias, String.valueOf(chain == null ? 0 : chain.length));
            }
            fields.put("keys", object(keys));
            fields.put("chains", object(chains));
            String chosen = null;
            Throwable kmfError = null;
            try {
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(loaded.store, password);
                for (KeyManager manager : kmf.getKeyManagers()) {
                    if (manager instanceof X509KeyManager && chosen == null) {
                        chosen = ((X509KeyManager) manager).chooseClientAlias(KEY_TYPES, null, null);
                    }
                }
            } catch (Throwable e) {
                kmfError = e;
            }
            fields.put("kmf", error(kmfError));
            fields.put("clientAlias", chosen == null ? "null" : quote(chosen));
        }
        return object(fields);
    }

    private static String truststore(String file, char[] password) throws Exception {
        Loaded loaded = load(file, password);
        Map<String, String> fields = entries(loaded, new ArrayList<>());
        if (loaded.store != null) {
            int anchors = 0;
            Throwable tmfError = null;
            try {
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(loaded.store);
                for (TrustManager manager : tmf.getTrustManagers()) {
                    if (manager instanceof X509TrustManager) {
                        anchors += ((X509TrustManager) manager).getAcceptedIssuers().length;
                    }
                }
            } catch (Throwable e) {
                tmfError = e;
            }
            fields.put("tmf", error(tmfError));
            fields.put("anchors", String.valueOf(anchors));
        }
        return object(fields);
    }

    private static String error(Throwable e) {
        if (e == null) {
            return "null";
        }
        List<String> causes = new ArrayList<>();
        for (Throwable c = e.getCause(); c != null && causes.size() < 8; c = c.getCause()) {
            causes.add(c.getClass().getName() + ": " + c.getMessage());
        }
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("class", quote(e.getClass().getName()));
        fields.put("message", e.getMessage() == null ? "null" : quote(e.getMessage()));
        fields.put("causes", strings(causes));
        return object(fields);
    }

    private static String object(Map<String, String> fields) {
        StringBuilder out = new StringBuilder("{");
        for (Map.Entry<String, String> field : fields.entrySet()) {
            if (out.length() > 1) {
                out.append(',');
            }
            out.append(quote(field.getKey())).append(':').append(field.getValue());
        }
        return out.append('}').toString();
    }

    private static String strings(List<String> values) {
        StringBuilder out = new StringBuilder("[");
        for (String value : values) {
            if (out.length() > 1) {
                out.append(',');
            }
            out.append(quote(value));
        }
        return out.append(']').toString();
    }

    private static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }
}

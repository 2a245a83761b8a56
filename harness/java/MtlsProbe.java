/*
 * mtls-harness JSSE probe: one HTTPS POST with a client certificate, made the way
 * the integration platform makes it (KeyStore -> KeyManagerFactory/TrustManagerFactory
 * default algorithms -> SSLContext "TLS" -> HttpsURLConnection, default hostname check).
 *
 * Protocol: one JSON object per line. Without arguments the program prints a
 * {"ready":...} line, then answers each request line on stdin until EOF, so one JVM
 * serves many probes. With --once it answers a single request and exits.
 * Passwords arrive on stdin only and are never written anywhere.
 *
 * Java 11+, no dependencies: it is compiled (or run by the source launcher) on
 * whatever JDK the user has.
 */

import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.UnrecoverableKeyException;
import java.security.cert.X509Certificate;
import java.util.*;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.*;
import javax.security.auth.x500.X500Principal;

public final class MtlsProbe {
    private static final int MAX_BODY = 1 << 20;
    private static final Pattern ALERT = Pattern.compile("Received fatal alert: (\\w+)");

    public static void main(String[] args) throws IOException {
        // HttpClient reads this once, in a static initialiser: set it before any
        // HTTP class loads, so no probe ever reuses another probe's connection.
        System.setProperty("http.keepAlive", "false");
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        // Anything else that prints (debug logging, JAVA_TOOL_OPTIONS agents) must
        // not corrupt the protocol channel.
        System.setOut(System.err);
        boolean once = args.length > 0 && "--once".equals(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        if (!once) {
            // A long-lived JVM has time to spare before the first probe: load and
            // run the TLS, key store and HTTP code once, so that the first real
            // probe does not pay for class loading and interpretation (~0.3 s).
            Thread warm = new Thread(MtlsProbe::warmUp, "warm-up");
            warm.setDaemon(true);
            warm.start();
            Map<String, Object> ready = new LinkedHashMap<>();
            ready.put("ready", Boolean.TRUE);
            ready.put("javaVersion", System.getProperty("java.version"));
            ready.put("javaVendor", System.getProperty("java.vendor"));
            ready.put("pid", ProcessHandle.current().pid());
            emit(out, ready);
        }
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) { continue; }
            emit(out, answer(line));
            if (once) { break; }
        }
        // A stray non-daemon thread must not keep the JVM alive after stdin closed.
        System.exit(0);
    }

    /** Exercise what every probe uses, without any network: a ClientHello from an SSLEngine. */
    private static void warmUp() {
        try {
            char[] none = new char[0];
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, none);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keys, none);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init((KeyStore) null);
            KeyStore.getInstance("JKS");
            for (int round = 0; round < 3; round++) {
                SSLContext context = SSLContext.getInstance("TLS");
                context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
                SSLEngine engine = context.createSSLEngine("warm-up.invalid", 443);
                engine.setUseClientMode(true);
                engine.beginHandshake();
                ByteBuffer hello = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
                engine.wrap(ByteBuffer.allocate(0), hello);
            }
            Class.forName("javax.net.ssl.HttpsURLConnection");
            new URL("https://warm-up.invalid/").openConnection();
        } catch (Exception | LinkageError ignored) {
            // Only a head start: a failure here shows again, in full, in the first probe.
        }
    }

    private static void emit(PrintStream out, Map<String, Object> message) {
        out.println(Json.write(message));
        if (out.checkError()) {
            System.exit(1); // the harness is gone: nobody to answer
        }
    }

    private static Map<String, Object> answer(String line) {
        Object id = null;
        try {
            @SuppressWarnings("unchecked")
            Map<String, Object> request = (Map<String, Object>) Json.parse(line);
            id = request.get("id");
            Object op = request.get("op");
            Map<String, Object> response = "chooseAlias".equals(op) ? chooseAlias(request)
                    : "convert".equals(op) ? convert(request)
                    : probe(request);
            response.put("id", id);
            return response;
        } catch (Throwable t) { // a bug here must become an answer, not a dead JVM
            Map<String, Object> response = new LinkedHashMap<>();
            response.put("id", id);
            response.put("internalError", chain(t));
            return response;
        }
    }

    static Map<String, Object> probe(Map<String, Object> req) {
        long started = System.nanoTime();
        Map<String, Object> res = new LinkedHashMap<>();
        Map<String, Object> details = new LinkedHashMap<>();
        Recorder rec = new Recorder();
        char[] ksPass = string(req, "keystorePass").toCharArray();
        char[] tsPass = string(req, "truststorePass").toCharArray();
        int timeout = ((Number) req.get("timeoutMs")).intValue();
        String stage = "keystore";
        boolean loading = true;
        HttpsURLConnection conn = null;
        if (Boolean.TRUE.equals(req.get("loadOnly"))) {
            // `check`: how this JDK reads the stores, as the platform opens them; no network.
            try {
                return StoreFacts.read(bytes(req, "keystoreB64"), ksPass, bytes(req, "truststoreB64"), tsPass);
            } finally {
                Arrays.fill(ksPass, '\0');
                Arrays.fill(tsPass, '\0');
            }
        }
        try {
            // The stores arrive as bytes Python read within its bounds: the JVM never opens a path.
            KeyStore ks = load(bytes(req, "keystoreB64"), ksPass, "keystore", details);
            stage = "truststore";
            KeyStore ts = load(bytes(req, "truststoreB64"), tsPass, "truststore", details);
            loading = false;

            stage = "keystore";
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, ksPass); // a key entry with another password fails here, as on the platform
            stage = "truststore";
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            details.put("trust_anchors", String.valueOf(acceptedIssuers(tmf))); // 0: "trustAnchors ... non-empty"

            // A fresh context per probe: its own session cache, so no resumption
            // carries over from an earlier probe.
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(recording(kmf.getKeyManagers(), rec), tmf.getTrustManagers(), null);
            String[] protocols = protocols(req);
            stage = "handshake";
            if (protocols != null) {
                List<String> supported = Arrays.asList(ctx.getSupportedSSLParameters().getProtocols());
                for (String p : protocols) {
                    if (!supported.contains(p)) {
                        throw new IllegalArgumentException("Unsupported protocol: " + p + " (supported: " + supported + ")");
                    }
                }
            }

            stage = "connect";
            URLConnection opened = URI.create(string(req, "url")).toURL().openConnection();
            if (!(opened instanceof HttpsURLConnection)) {
                throw new IllegalArgumentException("not an https URL: " + string(req, "url"));
            }
            conn = (HttpsURLConnection) opened;
            conn.setSSLSocketFactory(new ProbeSocketFactory(ctx.getSocketFactory(), protocols, rec));
            rec.ciphers = strings(req.get("ciphers")); // as jdk.tls.client.cipherSuites would pin them
            conn.setConnectTimeout(timeout);
            conn.setReadTimeout(timeout);
            conn.setUseCaches(false);
            // Never follow a redirect (HttpsURLConnection follows https->https to any host by default, with
            // the client certificate): a 3xx is the answer, its Location reported (issue 22).
            conn.setInstanceFollowRedirects(false);
            // POST (the platform's request, with its body) or HEAD / GET (no body, no Content-Type).
            String method = req.get("method") == null ? "POST" : string(req, "method");
            boolean sendsBody = method.equals("POST");
            conn.setRequestMethod(method);
            byte[] body = Base64.getDecoder().decode(string(req, "bodyB64"));
            if (sendsBody) {
                conn.setDoOutput(true); // (on a GET this would turn it into a POST)
                conn.setRequestProperty("Content-Type", string(req, "contentType"));
                if (Boolean.TRUE.equals(req.get("once"))) {
                    // The same bytes and headers on the wire, but streamed: HttpClient then never
                    // resends the POST after a failed read, as it otherwise does (the platform too).
                    conn.setFixedLengthStreamingMode(body.length);
                }
            }
            conn.connect(); // TCP connect and TLS handshake
            stage = "http";
            if (sendsBody) {
                try (OutputStream os = conn.getOutputStream()) {
                    os.write(body);
                }
            }
            int status = conn.getResponseCode();
            stage = "done";
            res.put("status", status);
            String location = conn.getHeaderField("Location");
            if (location != null) {
                res.put("location", location.length() > 2000 ? location.substring(0, 2000) : location);
            }
            try {
                InputStream is = status >= 400 ? conn.getErrorStream() : conn.getInputStream();
                res.put("bodyB64", Base64.getEncoder().encodeToString(readBounded(is)));
            } catch (IOException e) {
                details.put("body_error", String.join(" <- ", chain(e)));
            }
        } catch (Exception e) {
            if (stage.equals("connect") && rec.socket != null && rec.socket.isConnected()) {
                stage = "handshake"; // TCP is up: what failed is TLS
            }
            if (e instanceof SSLException) { stage = "handshake"; }
            res.put("errors", chain(e));
            res.put("errorType", e.getClass().getSimpleName());
            res.put("alert", alert(e));
            res.put("storeProblem", storeProblem(stage, loading, e));
        } finally {
            Arrays.fill(ksPass, '\0');
            Arrays.fill(tsPass, '\0');
            if (conn != null) { conn.disconnect(); }
        }
        res.put("stage", stage);
        session(rec, res, details);
        rec.describe(details);
        res.put("details", details);
        res.put("elapsedMs", (System.nanoTime() - started) / 1e6);
        return res;
    }

    /**
     * "op":"chooseAlias": the key entry the platform's own key manager picks for a CertificateRequest.
     * The keystore is loaded and its KeyManagerFactory (SunX509, the default) made as for a probe; then,
     * per ask (key types, and the CA names as DER, or null for none), chooseClientAlias is called once per
     * key type in order, as JSSE's client does, and the first alias it returns is the one sent.
     * "candidates" are every alias getClientAliases offers for those key types and names (more than one:
     * the choice is the key manager's own order).
     */
    static Map<String, Object> chooseAlias(Map<String, Object> req) {
        Map<String, Object> res = new LinkedHashMap<>();
        Map<String, Object> details = new LinkedHashMap<>();
        char[] pass = string(req, "keystorePass").toCharArray();
        try {
            KeyStore ks = load(bytes(req, "keystoreB64"), pass, "keystore", details);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pass);
            X509KeyManager km = null;
            for (KeyManager k : kmf.getKeyManagers()) {
                if (k instanceof X509KeyManager) {
                    km = (X509KeyManager) k;
                    break;
                }
            }
            if (km == null) { throw new IllegalStateException("no X509KeyManager"); }
            List<Object> choices = new ArrayList<>();
            Object asks = req.get("asks");
            for (Object o : asks instanceof List ? (List<?>) asks : Collections.emptyList()) {
                @SuppressWarnings("unchecked")
                Map<String, Object> ask = (Map<String, Object>) o;
                String[] keyTypes = strings(ask.get("keyTypes"));
                Principal[] issuers = null;
                Object names = ask.get("issuers");
                if (names instanceof List) {
                    List<?> list = (List<?>) names;
                    issuers = new Principal[list.size()];
                    for (int i = 0; i < issuers.length; i++) {
                        issuers[i] = new X500Principal(Base64.getDecoder().decode(String.valueOf(list.get(i))));
                    }
                }
                String chosen = null;
                Set<String> candidates = new LinkedHashSet<>();
                for (String keyType : keyTypes == null ? new String[0] : keyTypes) {
                    String alias = km.chooseClientAlias(new String[] {keyType}, issuers == null ? null : issuers.clone(), null);
                    if (chosen == null && alias != null) { chosen = alias; }
                    String[] all = km.getClientAliases(keyType, issuers == null ? null : issuers.clone());
                    if (all != null) { candidates.addAll(Arrays.asList(all)); }
                }
                Map<String, Object> choice = new LinkedHashMap<>();
                choice.put("alias", chosen);
                choice.put("candidates", new ArrayList<Object>(candidates));
                choices.add(choice);
            }
            res.put("choices", choices);
            res.put("stage", "loaded");
        } catch (Exception e) {
            res.put("stage", "keystore");
            res.put("errors", chain(e));
            res.put("errorType", e.getClass().getSimpleName());
        } finally {
            Arrays.fill(pass, '\0');
        }
        res.put("details", details);
        return res;
    }

    /**
     * "op":"convert": a PKCS#12 (the bytes, base64) read by this JDK and written as JKS, with keytool
     * -importkeystore's semantics (-srcstoretype PKCS12 -deststoretype JKS): every key entry keeps its
     * alias and chain, its key password becomes the store password; certificate entries are kept. For
     * files only the JDK reads (BER, legacy or unusual encodings). Answers the JKS bytes, base64.
     */
    static Map<String, Object> convert(Map<String, Object> req) {
        Map<String, Object> res = new LinkedHashMap<>();
        char[] pass = string(req, "storePass").toCharArray();
        try {
            byte[] bytes = Base64.getDecoder().decode(string(req, "storeB64"));
            KeyStore src = KeyStore.getInstance("PKCS12");
            src.load(new ByteArrayInputStream(bytes), pass);
            KeyStore dst = KeyStore.getInstance("JKS");
            dst.load(null, pass);
            List<Object> keys = new ArrayList<>();
            for (String alias : Collections.list(src.aliases())) {
                if (src.isKeyEntry(alias)) {
                    java.security.Key key = src.getKey(alias, pass);
                    java.security.cert.Certificate[] chain = src.getCertificateChain(alias);
                    if (!(key instanceof PrivateKey) || chain == null || chain.length == 0) { continue; }
                    dst.setKeyEntry(alias, key, pass, chain);
                    keys.add(alias);
                } else if (src.isCertificateEntry(alias)) {
                    dst.setCertificateEntry(alias, src.getCertificate(alias));
                }
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            dst.store(out, pass);
            res.put("keyAliases", keys);
            res.put("storeB64", Base64.getEncoder().encodeToString(out.toByteArray()));
            res.put("stage", "loaded");
        } catch (Exception e) {
            res.put("stage", "keystore");
            res.put("errors", chain(e));
            res.put("errorType", e.getClass().getSimpleName());
            res.put("storeProblem", storeProblem("keystore", true, e));
        } finally {
            Arrays.fill(pass, '\0');
        }
        return res;
    }

    /**
     * The store's true type from its content: JKS, JCEKS, PKCS12, BKS, UBER, BCFKS, PEM or unknown.
     * The platform itself opens every file as "JKS" (StoreFacts); this only names what the file is.
     */
    static String detectType(byte[] b) {
        if (b.length >= 4) {
            int magic = int32(b, 0);
            if (magic == 0xFEEDFEED) { return "JKS"; }
            if (magic == 0xCECECECE) { return "JCEKS"; }
        }
        int i = 0;
        while (i < b.length && i < 64 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) { i++; }
        if (new String(b, i, Math.min(b.length - i, 10), StandardCharsets.ISO_8859_1).equals("-----BEGIN")) {
            return "PEM";
        }
        if (b.length >= 2 && (b[0] & 0xff) == 0x30) {
            int at = derContent(b);
            if (at > 0 && at + 3 <= b.length) {
                if (b[at] == 0x02 && b[at + 1] == 0x01 && b[at + 2] == 0x03) { return "PKCS12"; }
                // BouncyCastle's FIPS store: an ASN.1 object store, PBKDF2 and AES-CCM / HMAC-SHA512.
                if (b[at] == 0x30 && (contains(b, PBKDF2_OID) || contains(b, AES_CCM_OID))) { return "BCFKS"; }
            }
            return "unknown";
        }
        // BouncyCastle's BKS and UBER: version (1 or 2), salt length and salt, iteration count; then
        // BKS's entries in the clear (a type byte 0-4 and a UTF alias), UBER's Twofish-encrypted.
        if (b.length >= 12) {
            int version = int32(b, 0);
            int salt = int32(b, 4);
            if ((version == 1 || version == 2) && salt > 0 && salt <= 64 && 12 + salt <= b.length) {
                return looksLikeBksEntries(b, 12 + salt) ? "BKS" : "UBER";
            }
        }
        return "unknown";
    }

    /**
     * Whether BKS's clear entries start at {@code at}: the end mark (0) followed by nothing but the 20-byte
     * HMAC, or an entry type (1-4), a UTF alias and a creation date in milliseconds before the year 3000.
     * UBER's Twofish-encrypted body starts with a byte of 0-4 about once in 50 stores; it almost never
     * also has a plausible alias length and date after it.
     */
    private static boolean looksLikeBksEntries(byte[] b, int at) {
        if (at >= b.length) { return false; }
        int type = b[at] & 0xff;
        if (type == 0) { return b.length - at - 1 == 20; }
        if (type > 4 || at + 3 > b.length) { return false; }
        int date = at + 3 + (((b[at + 1] & 0xff) << 8) | (b[at + 2] & 0xff));
        if (date + 8 > b.length) { return false; }
        long ms = ((long) int32(b, date) << 32) | (int32(b, date + 4) & 0xffffffffL);
        return ms >= 0 && ms < 32503680000000L;
    }

    private static final byte[] PBKDF2_OID = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x05, 0x0c};
    private static final byte[] AES_CCM_OID = {0x06, 0x09, 0x60, (byte) 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e};

    private static int int32(byte[] b, int at) {
        return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
    }

    /** Where the content of the outer DER/BER SEQUENCE starts, or -1. */
    private static int derContent(byte[] b) {
        int len = b[1] & 0xff;
        if (len < 0x80) { return 2; }
        if (len == 0x80) { return 2; } // BER indefinite length (browser and OS exports)
        int n = len & 0x7f;
        return n <= 4 ? 2 + n : -1;
    }

    private static boolean contains(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int k = 0; k < needle.length; k++) {
                if (hay[i + k] != needle[k]) { continue outer; }
            }
            return true;
        }
        return false;
    }

    private static byte[] bytes(Map<String, Object> req, String key) {
        return Base64.getDecoder().decode(string(req, key));
    }

    private static KeyStore load(byte[] bytes, char[] pass, String which, Map<String, Object> details) throws Exception {
        String type = detectType(bytes);
        details.put(which + "_type", type);
        KeyStore ks = KeyStore.getInstance(type.equals("JKS") || type.equals("JCEKS") ? type : "PKCS12");
        ks.load(new ByteArrayInputStream(bytes), pass);
        List<String> keys = new ArrayList<>();
        int certs = 0;
        for (String alias : Collections.list(ks.aliases())) {
            if (ks.isKeyEntry(alias)) {
                keys.add(alias);
            } else if (ks.isCertificateEntry(alias)) {
                certs++;
            }
        }
        Collections.sort(keys);
        if (which.equals("keystore")) {
            details.put("key_entries", String.valueOf(keys.size()));
            details.put("key_aliases", String.join("|", keys));
        } else {
            details.put("truststore_certs", String.valueOf(certs));
            details.put("truststore_key_entries", String.valueOf(keys.size()));
        }
        return ks;
    }

    /**
     * Why the store of this stage would not open, as far as the exception alone tells: "password",
     * "unreadable" or "key-password" (the key entry not opening with the store's password). A fact,
     * not an outcome code: what it means is diagnose's to say (harness/diagnose/store_failures.py).
     */
    private static String storeProblem(String stage, boolean loading, Throwable e) {
        if (!stage.equals("keystore") && !stage.equals("truststore")) { return null; }
        if (!loading) { return e instanceof UnrecoverableKeyException ? "key-password" : null; }
        // JKS: "Keystore was tampered with, or password was incorrect" (cause
        // UnrecoverableKeyException); PKCS12: "keystore password was incorrect" or
        // "Integrity check failed". A truncated or foreign file gives anything else.
        for (Throwable t : causes(e)) {
            String m = String.valueOf(t.getMessage());
            if (t instanceof UnrecoverableKeyException || m.contains("password was incorrect")
                    || m.contains("Integrity check failed")) {
                return "password";
            }
        }
        return "unreadable";
    }

    private static String alert(Throwable e) {
        for (Throwable t : causes(e)) {
            Matcher m = ALERT.matcher(String.valueOf(t.getMessage()));
            if (m.find()) { return m.group(1); }
        }
        return null;
    }

    /**
     * Protocol and cipher: the final session when the handshake completed, else
     * what the handshake had agreed when the server asked for a certificate.
     * The socket is closed first so getSession() cannot start a new handshake.
     */
    private static void session(Recorder rec, Map<String, Object> res, Map<String, Object> details) {
        boolean completed = false;
        if (rec.socket != null) {
            try {
                rec.socket.close();
            } catch (IOException ignored) {
                // closing only protects getSession(); a failure changes nothing
            }
            SSLSession s = rec.socket.getSession();
            if (s != null && !"NONE".equals(s.getProtocol())) {
                completed = true;
                res.put("protocol", s.getProtocol());
                res.put("cipher", s.getCipherSuite());
            }
        }
        if (!completed && rec.handshakeProtocol != null) {
            res.put("protocol", rec.handshakeProtocol);
            res.put("cipher", rec.handshakeCipher);
        }
        details.put("handshake_completed", String.valueOf(completed));
    }

    private static String[] protocols(Map<String, Object> req) {
        Object p = req.get("protocols");
        if (!(p instanceof List)) { return null; }
        List<?> list = (List<?>) p;
        String[] out = new String[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = String.valueOf(list.get(i));
        }
        return out;
    }

    private static String[] strings(Object p) {
        if (!(p instanceof List)) { return null; }
        List<?> list = (List<?>) p;
        String[] out = new String[list.size()];
        for (int i = 0; i < out.length; i++) { out[i] = String.valueOf(list.get(i)); }
        return out;
    }

    private static int acceptedIssuers(TrustManagerFactory tmf) {
        int n = 0;
        for (TrustManager tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager) { n += ((X509TrustManager) tm).getAcceptedIssuers().length; }
        }
        return n;
    }

    private static KeyManager[] recording(KeyManager[] kms, Recorder rec) {
        KeyManager[] out = kms.clone();
        for (int i = 0; i < out.length; i++) {
            if (out[i] instanceof X509KeyManager) {
                out[i] = new RecordingKeyManager((X509KeyManager) out[i], rec);
            }
        }
        return out;
    }

    private static byte[] readBounded(InputStream is) throws IOException {
        if (is == null) { return new byte[0]; }
        try (InputStream in = is) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            byte[] chunk = new byte[8192];
            int n;
            while (buf.size() < MAX_BODY && (n = in.read(chunk)) != -1) {
                buf.write(chunk, 0, Math.min(n, MAX_BODY - buf.size()));
            }
            return buf.toByteArray();
        }
    }

    private static List<Throwable> causes(Throwable e) {
        List<Throwable> out = new ArrayList<>();
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Throwable t = e; t != null && seen.add(t) && out.size() < 32; t = t.getCause()) {
            out.add(t);
        }
        return out;
    }

    /** The whole chain, outermost first: "class: message" per cause. */
    static List<String> chain(Throwable e) {
        List<String> out = new ArrayList<>();
        for (Throwable t : causes(e)) {
            out.add(t.getMessage() == null ? t.getClass().getName() : t.getClass().getName() + ": " + t.getMessage());
        }
        return out;
    }

    private static String string(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (!(v instanceof String)) {
            throw new IllegalArgumentException("request field " + key + " must be a string");
        }
        return (String) v;
    }

    /**
     * The load-only answer (`check`): each store opened as the platform opens it, as typed facts.
     * KeyStore.getInstance("JKS") (on 9+ it reads JKS and PKCS#12, not JCEKS), load with the store's
     * password, getKey on every key entry with that password, KeyManagerFactory "SunX509" init on
     * the keystore, TrustManagerFactory "PKIX" init on the truststore. Every stage that failed keeps
     * its exception chain; every entry is listed as Java sees it (alias, kind, chain, key).
     */
    static final class StoreFacts {
        private StoreFacts() {}

        static Map<String, Object> read(byte[] keystore, char[] ksPass, byte[] truststore, char[] tsPass) {
            Map<String, Object> res = new LinkedHashMap<>();
            Map<String, Object> ks = store(keystore, ksPass, true);
            Map<String, Object> ts = store(truststore, tsPass, false);
            res.put("keystoreFacts", ks);
            res.put("truststoreFacts", ts);
            boolean ok = Boolean.TRUE.equals(ks.get("usable")) && Boolean.TRUE.equals(ts.get("usable"));
            res.put("stage", ok ? "loaded" : Boolean.TRUE.equals(ks.get("usable")) ? "truststore" : "keystore");
            return res;
        }

        private static Map<String, Object> store(byte[] bytes, char[] pass, boolean keystore) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("trueType", detectType(bytes));
            out.put("platformType", "JKS");
            out.put("size", bytes.length);
            Map<String, Object> stages = new LinkedHashMap<>();
            out.put("stages", stages);
            KeyStore ks;
            try {
                ks = KeyStore.getInstance("JKS");
                ks.load(new ByteArrayInputStream(bytes), pass);
                stages.put("load", null);
            } catch (Exception | LinkageError e) {
                stages.put("load", failure(e));
                out.put("usable", Boolean.FALSE);
                return out;
            }
            List<Map<String, Object>> entries = new ArrayList<>();
            out.put("entries", entries);
            try {
                for (String alias : Collections.list(ks.aliases())) {
                    entries.add(entry(ks, alias, pass));
                }
            } catch (Exception e) {
                stages.put("entries", failure(e));
            }
            boolean usable = true;
            try {
                if (keystore) {
                    KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
                    kmf.init(ks, pass); // a key entry that does not open with the store password fails here
                    stages.put("keyManager", null);
                } else {
                    TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
                    tmf.init(ks);
                    stages.put("trustManager", null);
                    out.put("trustAnchors", acceptedIssuers(tmf));
                }
            } catch (Exception | LinkageError e) {
                stages.put(keystore ? "keyManager" : "trustManager", failure(e));
                usable = false;
            }
            out.put("usable", usable);
            return out;
        }

        private static Map<String, Object> entry(KeyStore ks, String alias, char[] pass) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("alias", alias);
            String kind = "none"; // listed by aliases() but found under no kind (an alias JKS cannot look up)
            try {
                if (ks.isKeyEntry(alias)) {
                    kind = ks.entryInstanceOf(alias, KeyStore.SecretKeyEntry.class) ? "secret" : "key";
                } else if (ks.isCertificateEntry(alias)) {
                    kind = "cert";
                }
            } catch (Exception ex) {
                e.put("kindError", failure(ex));
            }
            e.put("kind", kind);
            List<Map<String, Object>> chain = new ArrayList<>();
            e.put("chain", chain);
            try {
                if (kind.equals("key")) {
                    java.security.cert.Certificate[] certs = ks.getCertificateChain(alias);
                    if (certs != null) {
                        for (java.security.cert.Certificate c : certs) { chain.add(cert(c)); }
                    }
                } else if (kind.equals("cert")) {
                    java.security.cert.Certificate c = ks.getCertificate(alias);
                    if (c != null) { chain.add(cert(c)); }
                }
            } catch (Exception ex) {
                e.put("chainError", failure(ex));
            }
            if (kind.equals("key") || kind.equals("secret")) {
                try {
                    java.security.Key key = ks.getKey(alias, pass);
                    e.put("keyOpened", key != null);
                    if (key != null) {
                        e.put("keyAlgorithm", key.getAlgorithm());
                        e.put("keyFormat", key.getFormat());
                    }
                } catch (Exception | LinkageError ex) {
                    e.put("keyOpened", Boolean.FALSE);
                    e.put("keyError", failure(ex));
                }
            }
            return e;
        }

        private static Map<String, Object> cert(java.security.cert.Certificate c) throws Exception {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("type", c.getType());
            m.put("der", Base64.getEncoder().encodeToString(c.getEncoded()));
            java.security.PublicKey key = c.getPublicKey();
            m.put("keyAlgorithm", key.getAlgorithm());
            m.put("keySize", keySize(key));
            if (c instanceof X509Certificate) {
                X509Certificate x = (X509Certificate) c;
                m.put("subject", x.getSubjectX500Principal().getName(X500Principal.RFC2253));
                m.put("issuer", x.getIssuerX500Principal().getName(X500Principal.RFC2253));
                m.put("notBefore", x.getNotBefore().toInstant().toString());
                m.put("notAfter", x.getNotAfter().toInstant().toString());
                m.put("signatureAlgorithm", x.getSigAlgName());
                try {
                    List<String> eku = x.getExtendedKeyUsage();
                    m.put("eku", eku == null ? null : new ArrayList<Object>(eku));
                } catch (Exception ex) {
                    m.put("eku", null);
                }
            }
            return m;
        }

        private static int keySize(java.security.PublicKey key) {
            if (key instanceof java.security.interfaces.RSAKey) {
                return ((java.security.interfaces.RSAKey) key).getModulus().bitLength();
            }
            if (key instanceof java.security.interfaces.ECKey) {
                return ((java.security.interfaces.ECKey) key).getParams().getOrder().bitLength();
            }
            if (key instanceof java.security.interfaces.DSAKey) {
                return ((java.security.interfaces.DSAKey) key).getParams().getP().bitLength();
            }
            return -1;
        }

        /** A failed stage: the exception chain and, as far as the exception tells, why. */
        private static Map<String, Object> failure(Throwable e) {
            Map<String, Object> f = new LinkedHashMap<>();
            f.put("errors", chain(e));
            f.put("why", why(e));
            return f;
        }

        /**
         * "algorithm" (this JDK lacks one the file uses), "password", "format" (not a store this type
         * reads) or "other". A PKCS#12 whose algorithms the JDK lacks can also say "password was
         * incorrect" or "Invalid keystore format": Python tells those apart with the file's algorithms.
         */
        private static String why(Throwable e) {
            for (Throwable t : causes(e)) {
                String m = String.valueOf(t.getMessage());
                if (t instanceof java.security.NoSuchAlgorithmException || m.contains("not available")) {
                    return "algorithm";
                }
            }
            for (Throwable t : causes(e)) {
                String m = String.valueOf(t.getMessage());
                if (t instanceof UnrecoverableKeyException || m.contains("password was incorrect")
                        || m.contains("Integrity check failed") || m.contains("Cannot recover key")
                        || m.contains("Get Key failed")) {
                    return "password";
                }
            }
            for (Throwable t : causes(e)) {
                if (String.valueOf(t.getMessage()).contains("Invalid keystore format")) { return "format"; }
            }
            return "other";
        }
    }

    /** Per-probe record of what the JDK did on the client-certificate side. */
    static final class Recorder {
        volatile SSLSocket socket;
        volatile String[] ciphers; // the request's cipher suites, or null for the JDK's defaults
        volatile int connections;
        boolean requested;
        String chosen;
        String handshakeProtocol;
        String handshakeCipher;
        final Set<String> keyTypes = new LinkedHashSet<>();
        final Set<String> issuers = new LinkedHashSet<>();

        synchronized void asked(String[] types, Principal[] names, String alias, Socket s) {
            requested = true;
            if (types != null) { keyTypes.addAll(Arrays.asList(types)); }
            if (names != null) {
                for (Principal p : names) {
                    issuers.add(p instanceof X500Principal ? ((X500Principal) p).getName(X500Principal.RFC2253) : p.getName());
                }
            }
            // JSSE asks once per key type and sends the first alias it gets.
            if (chosen == null && alias != null) { chosen = alias; }
            if (s instanceof SSLSocket) {
                SSLSession hs = ((SSLSocket) s).getHandshakeSession();
                if (hs != null) {
                    handshakeProtocol = hs.getProtocol();
                    handshakeCipher = hs.getCipherSuite();
                }
            }
        }

        synchronized void describe(Map<String, Object> details) {
            // HttpURLConnection silently retries a POST once when reading the
            // response fails: the server may see two handshakes for one probe.
            details.put("connections", String.valueOf(connections));
            details.put("client_cert_requested", String.valueOf(requested));
            if (requested) {
                details.put("chosen_alias", chosen == null ? "" : chosen);
                details.put("ca_names_seen", String.join("|", issuers));
                details.put("key_types_asked", String.join("|", keyTypes));
            }
        }
    }

    /** Delegates everything; records which alias the JDK chose and the CA names it saw. */
    static final class RecordingKeyManager extends X509ExtendedKeyManager {
        private final X509KeyManager km;
        private final Recorder rec;

        RecordingKeyManager(X509KeyManager km, Recorder rec) {
            this.km = km;
            this.rec = rec;
        }

        @Override
        public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
            String alias = km.chooseClientAlias(keyType, issuers, socket);
            rec.asked(keyType, issuers, alias, socket);
            return alias;
        }

        @Override
        public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
            String alias = km instanceof X509ExtendedKeyManager
                    ? ((X509ExtendedKeyManager) km).chooseEngineClientAlias(keyType, issuers, engine)
                    : null;
            rec.asked(keyType, issuers, alias, null);
            return alias;
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return km.getClientAliases(keyType, issuers);
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            return km.getServerAliases(keyType, issuers);
        }

        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            return km.chooseServerAlias(keyType, issuers, socket);
        }

        @Override
        public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
            return km instanceof X509ExtendedKeyManager
                    ? ((X509ExtendedKeyManager) km).chooseEngineServerAlias(keyType, issuers, engine)
                    : null;
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            return km.getCertificateChain(alias);
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            return km.getPrivateKey(alias);
        }
    }

    /**
     * Restricts protocols per socket: https.protocols is read once per JVM, and
     * this JVM outlives many probes. Also keeps the socket for session details.
     */
    static final class ProbeSocketFactory extends SSLSocketFactory {
        private final SSLSocketFactory f;
        private final String[] protocols;
        private final Recorder rec;

        ProbeSocketFactory(SSLSocketFactory f, String[] protocols, Recorder rec) {
            this.f = f;
            this.protocols = protocols;
            this.rec = rec;
        }

        private Socket prepare(Socket s) {
            if (s instanceof SSLSocket) {
                SSLSocket ssl = (SSLSocket) s;
                if (protocols != null) { ssl.setEnabledProtocols(protocols); }
                if (rec.ciphers != null) { ssl.setEnabledCipherSuites(rec.ciphers); }
                rec.socket = ssl;
                rec.connections++;
            }
            return s;
        }

        @Override
        public String[] getDefaultCipherSuites() {
            return f.getDefaultCipherSuites();
        }

        @Override
        public String[] getSupportedCipherSuites() {
            return f.getSupportedCipherSuites();
        }

        @Override
        public Socket createSocket() throws IOException {
            return prepare(f.createSocket());
        }

        @Override
        public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
            return prepare(f.createSocket(s, host, port, autoClose));
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            return prepare(f.createSocket(host, port));
        }

        @Override
        public Socket createSocket(String host, int port, InetAddress local, int localPort) throws IOException {
            return prepare(f.createSocket(host, port, local, localPort));
        }

        @Override
        public Socket createSocket(InetAddress host, int port) throws IOException {
            return prepare(f.createSocket(host, port));
        }

        @Override
        public Socket createSocket(InetAddress host, int port, InetAddress local, int localPort) throws IOException {
            return prepare(f.createSocket(host, port, local, localPort));
        }
    }

    /** Just enough JSON: objects, arrays, strings, numbers, booleans, null. Output is ASCII. */
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String text) {
            Json p = new Json(text);
            Object v = p.value();
            p.ws();
            if (p.i != text.length()) { throw p.error("trailing characters"); }
            return v;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("bad JSON at offset " + i + ": " + what);
        }

        private void ws() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
        }

        private void expect(char c) {
            ws();
            if (i >= s.length() || s.charAt(i) != c) { throw error("expected '" + c + "'"); }
            i++;
        }

        private boolean peek(char c) {
            ws();
            return i < s.length() && s.charAt(i) == c;
        }

        private Object value() {
            ws();
            if (i >= s.length()) { throw error("unexpected end"); }
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                if (peek('}')) {
                    i++;
                    return m;
                }
                do {
                    ws();
                    if (!peek('"')) { throw error("expected a string key"); }
                    String key = string();
                    expect(':');
                    m.put(key, value());
                } while (comma());
                expect('}');
                return m;
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                if (peek(']')) {
                    i++;
                    return l;
                }
                do {
                    l.add(value());
                } while (comma());
                expect(']');
                return l;
            }
            if (c == '"') { return string(); }
            for (String word : new String[] {"true", "false", "null"}) {
                if (s.startsWith(word, i)) {
                    i += word.length();
                    return word.equals("null") ? null : Boolean.valueOf(word);
                }
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            String num = s.substring(start, i);
            try {
                if (num.matches("-?\\d+")) { return Long.parseLong(num); }
                return Double.parseDouble(num);
            } catch (NumberFormatException e) {
                i = start;
                throw error("bad value");
            }
        }

        private boolean comma() {
            if (peek(',')) {
                i++;
                return true;
            }
            return false;
        }

        private String string() {
            StringBuilder b = new StringBuilder();
            i++; // the opening quote
            while (true) {
                if (i >= s.length()) { throw error("unterminated string"); }
                char c = s.charAt(i++);
                if (c == '"') { return b.toString(); }
                if (c < 0x20) { throw error("control character in string"); }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (i >= s.length()) { throw error("unterminated escape"); }
                char e = s.charAt(i++);
                int at = "\"\\/bfnrt".indexOf(e);
                if (at >= 0) {
                    b.append("\"\\/\b\f\n\r\t".charAt(at));
                } else if (e == 'u' && i + 4 <= s.length()) {
                    int code = 0;
                    for (int k = 0; k < 4; k++) {
                        int d = Character.digit(s.charAt(i++), 16);
                        if (d < 0) { throw error("bad \\u escape"); }
                        code = code * 16 + d;
                    }
                    b.append((char) code); // surrogate pairs arrive as two escapes
                } else {
                    throw error("bad escape");
                }
            }
        }

        static String write(Object v) {
            StringBuilder b = new StringBuilder();
            write(b, v);
            return b.toString();
        }

        private static void write(StringBuilder b, Object v) {
            if (v == null) {
                b.append("null");
            } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
                b.append(v);
            } else if (v instanceof Number) {
                double d = ((Number) v).doubleValue();
                b.append(Double.isFinite(d) ? String.valueOf(d) : "null");
            } else if (v instanceof Map) {
                b.append('{');
                String sep = "";
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    b.append(sep);
                    quote(b, String.valueOf(e.getKey()));
                    b.append(':');
                    write(b, e.getValue());
                    sep = ",";
                }
                b.append('}');
            } else if (v instanceof List) {
                b.append('[');
                String sep = "";
                for (Object o : (List<?>) v) {
                    b.append(sep);
                    write(b, o);
                    sep = ",";
                }
                b.append(']');
            } else {
                quote(b, v.toString());
            }
        }

        private static void quote(StringBuilder b, String s) {
            b.append('"');
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                if (c == '"' || c == '\\') {
                    b.append('\\').append(c);
                } else if (c == '\n') {
                    b.append("\\n");
                } else if (c == '\r') {
                    b.append("\\r");
                } else if (c == '\t') {
                    b.append("\\t");
                } else if (c < 0x20 || c > 0x7e) {
                    b.append(String.format("\\u%04x", (int) c));
                } else {
                    b.append(c);
                }
            }
            b.append('"');
        }
    }
}

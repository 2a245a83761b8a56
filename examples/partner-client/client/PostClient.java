// The team's JKS-consuming client, configured like the integration platform's
// MTLS destination: a keystore and a truststore (JKS), their passwords, a URL.
//
//   KEYSTORE_PASS=... TRUSTSTORE_PASS=... java client/PostClient.java URL KEYSTORE TRUSTSTORE
//
// Passwords come from the environment, never the command line. Prints
// "HTTP <status>" and exits 0, or "FAILED <exception>: <message>" and exits 1.

import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class PostClient {
    static KeyStore load(String path, char[] password) throws Exception {
        KeyStore store = KeyStore.getInstance("JKS");
        try (InputStream in = new FileInputStream(path)) {
            store.load(in, password);
        }
        return store;
    }

    public static void main(String[] args) {
        try {
            char[] ksPass = System.getenv("KEYSTORE_PASS").toCharArray();
            char[] tsPass = System.getenv("TRUSTSTORE_PASS").toCharArray();
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(load(args[1], ksPass), ksPass); // key password == store password
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(load(args[2], tsPass));
            SSLContext tls = SSLContext.getInstance("TLS");
            tls.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);

            HttpsURLConnection connection = (HttpsURLConnection) new URL(args[0]).openConnection();
            connection.setSSLSocketFactory(tls.getSocketFactory());
            connection.setConnectTimeout(10000);
            connection.setReadTimeout(10000);
            connection.setRequestMethod("POST");
            connection.setDoOutput(true);
            connection.setRequestProperty("Content-Type", "application/json");
            try (OutputStream out = connection.getOutputStream()) {
                out.write("{\"order\": 1}".getBytes(StandardCharsets.UTF_8));
            }
            System.out.println("HTTP " + connection.getResponseCode());
        } catch (Exception e) {
            System.out.println("FAILED " + e.getClass().getName() + ": " + e.getMessage());
            System.exit(1);
        }
    }
}

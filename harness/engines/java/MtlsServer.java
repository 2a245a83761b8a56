import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * The "java" server persona: a JSSE SSLServerSocket as Jetty, Netty or Tomcat run it.
 *
 * Arguments: CHAIN.pem KEY.pem CLIENT-CAS.pem|- need|want|none TLSv1.2,TLSv1.3 PATH STATUS CHECK-NAMES(true|false).
 * Binds 127.0.0.1 on an ephemeral port and prints "listening PORT"; then one line per connection:
 * "handshake ok PROTOCOL CIPHER SUBJECT|-", "handshake failed EXCEPTION-CHAIN" or "request METHOD PATH STATUS".
 * With CHECK-NAMES the server does endpoint identification of the client ("HTTPS" on the server
 * side: the client certificate's subject alternative names against the client's address), as
 * Jetty's SslContextFactory.Server did by default in 9.4.15-9.4.x. Stops when stdin closes.
 */
public final class MtlsServer {
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        String chain = args[0], key = args[1], cas = args[2], auth = args[3];
        String[] protocols = args[4].split(",");
        String path = args[5];
        int status = Integer.parseInt(args[6]);
        boolean checkNames = Boolean.parseBoolean(args[7]);

        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        Collection<? extends Certificate> serverChain = cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(Paths.get(chain))));
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        char[] none = new char[0];
        ks.setKeyEntry("server", privateKey(key, (X509Certificate) serverChain.iterator().next()), none,
                serverChain.toArray(new Certificate[0]));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, none);
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        if (!cas.equals("-")) {
            int i = 0;
            for (Certificate c : cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(Paths.get(cas))))) {
                ts.setCertificateEntry("ca" + i++, c);
            }
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);

        SSLServerSocket server = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 64);
        SSLParameters params = server.getSSLParameters();
        params.setProtocols(protocols);
        params.setApplicationProtocols(new String[] {"http/1.1"});
        if (auth.equals("need")) { params.setNeedClientAuth(true); }
        if (auth.equals("want")) { params.setWantClientAuth(true); }
        // JDK 17 refuses "HTTPS" on the server side ("not supported on the server side", measured);
        // JDK 8 servers (Jetty 9.4 defaulted to it) applied it. "LDAPS" runs the same HostnameChecker
        // on the client certificate against the client's address, with the same messages.
        if (checkNames) { params.setEndpointIdentificationAlgorithm("LDAPS"); }
        server.setSSLParameters(params);
        OUT.println("listening " + server.getLocalPort());

        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() != -1) { /* the harness holds stdin open while it wants us */ }
            } catch (IOException ignored) {
                // gone either way
            }
            System.exit(0);
        });
        stdin.setDaemon(true);
        stdin.start();
        while (true) {
            SSLSocket s = (SSLSocket) server.accept();
            Thread t = new Thread(() -> serve(s, path, status));
            t.setDaemon(true);
            t.start();
        }
    }

    private static PrivateKey privateKey(String path, X509Certificate cert) throws Exception {
        String pem = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.US_ASCII);
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        byte[] der = Base64.getDecoder().decode(body);
        String algorithm = cert.getPublicKey().getAlgorithm(); // "EC" or "RSA"
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    private static void serve(SSLSocket s, String path, int status) {
        try (SSLSocket socket = s) {
            socket.setSoTimeout(10000);
            try {
                socket.startHandshake();
            } catch (IOException e) {
                OUT.println("handshake failed " + oneLine(e));
                return;
            }
            String subject = "-";
            try {
                Certificate[] peer = socket.getSession().getPeerCertificates();
                subject = ((X509Certificate) peer[0]).getSubjectX500Principal().getName();
            } catch (IOException noCertificate) {
                // want-auth without a certificate
            }
            OUT.println("handshake ok " + socket.getSession().getProtocol() + " " + socket.getSession().getCipherSuite() + " " + subject);
            InputStream in = socket.getInputStream();
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.ISO_8859_1));
            String request = reader.readLine();
            if (request == null) { return; }
            int length = 0;
            for (String line = reader.readLine(); line != null && !line.isEmpty(); line = reader.readLine()) {
                if (line.toLowerCase().startsWith("content-length:")) { length = Integer.parseInt(line.substring(15).trim()); }
            }
            for (int i = 0; i < length && reader.read() != -1; i++) { /* the body is not needed */ }
            String[] parts = request.split(" ");
            int answer = !parts[0].equals("POST") ? 405 : !parts[1].equals(path) ? 404 : status;
            String client = subject.equals("-") ? "null" : "{\"subject\": \"" + subject.replace("\"", "'") + "\"}";
            byte[] bodyOut = ("{\"client\": " + client + ", \"server\": \"jsse\"}").getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("HTTP/1.1 " + answer + " X\r\nContent-Type: application/json\r\nContent-Length: " + bodyOut.length
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(bodyOut);
            out.flush();
            OUT.println("request " + parts[0] + " " + parts[1] + " " + answer);
        } catch (SocketTimeoutException e) {
            OUT.println("handshake failed " + oneLine(e));
        } catch (IOException | RuntimeException e) {
            OUT.println("connection error " + oneLine(e));
        }
    }

    private static String oneLine(Throwable e) {
        List<String> out = new ArrayList<>();
        for (Throwable t = e; t != null && out.size() < 8; t = t.getCause()) {
            out.add(t.getClass().getName() + ": " + t.getMessage());
        }
        return String.join(" <- ", out).replace('\n', ' ');
    }
}

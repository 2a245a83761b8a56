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
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * The "java" server persona: a JSSE SSLServerSocket as Jetty, Netty or Tomcat run it.
 *
 * One JVM serves many listeners (harness/server/java_persona.py runs it with --host; arguments are not read).
 * Commands on stdin, one a line, fields separated by tabs (paths may hold spaces):
 * "open ID CHAIN.pem KEY.pem CLIENT-CAS.pem|- need|want|none TLSv1.2,TLSv1.3 PATH STATUS CHECK-NAMES(true|false)"
 * answers "ID listening PORT" (or "ID failed REASON", and the host goes on); "close ID" closes that
 * listener and its open connections and answers "ID closed". Every listener has its own SSLContext
 * (session cache, key and trust managers), built as a lone server builds it.
 *
 * A listener binds 127.0.0.1 on an ephemeral port; then one line per connection:
 * "handshake ok PROTOCOL CIPHER SUBJECT|-", "handshake failed EXCEPTION-CHAIN" or "request METHOD PATH STATUS".
 * With CHECK-NAMES the server does endpoint identification of the client ("HTTPS" on the server
 * side: the client certificate's subject alternative names against the client's address), as
 * Jetty's SslContextFactory.Server did by default in 9.4.15-9.4.x. Stops when stdin closes.
 */
public final class MtlsServer {
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    public static void main(String[] args) {
        host();
    }

    /** Commands from stdin until it closes; each listener accepts on its own thread. */
    private static void host() {
        Map<String, Listener> listeners = new ConcurrentHashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] f = line.split("\t", -1);
                if (f[0].equals("open") && f.length == 10 && !f[1].isEmpty() && !f[1].contains(" ")) {
                    String id = f[1];
                    Listener old = listeners.remove(id);
                    if (old != null) { old.close(); }
                    try {
                        Listener listener = Listener.open(id + " ", java.util.Arrays.copyOfRange(f, 2, 10));
                        listeners.put(id, listener);
                        Thread t = new Thread(listener::accept, "accept-" + id);
                        t.setDaemon(true);
                        t.start();
                    } catch (Exception | LinkageError e) {
                        OUT.println(id + " failed " + oneLine(e));
                    }
                } else if (f[0].equals("close") && f.length == 2) {
                    Listener listener = listeners.remove(f[1]);
                    if (listener != null) { listener.close(); }
                    OUT.println(f[1] + " closed");
                } else {
                    System.err.println("MtlsServer: unknown command " + f[0] + " (" + f.length + " fields)");
                }
            }
        } catch (IOException ignored) {
            // stdin gone: the harness is
        }
        System.exit(0);
    }

    /** One listening server socket with its own SSLContext, and its connections (closed with it). */
    private static final class Listener {
        private final String prefix;
        private final SSLServerSocket server;
        private final String path;
        private final int status;
        private final Set<SSLSocket> open = ConcurrentHashMap.newKeySet();
        private volatile boolean closed;

        private Listener(String prefix, SSLServerSocket server, String path, int status) {
            this.prefix = prefix;
            this.server = server;
            this.path = path;
            this.status = status;
        }

        /** Fields: CHAIN KEY CAS AUTH PROTOCOLS PATH STATUS CHECK-NAMES; prints "PREFIXlistening PORT". */
        static Listener open(String prefix, String[] f) throws Exception {
            String chain = f[0], key = f[1], cas = f[2], auth = f[3];
            String[] protocols = f[4].split(",");
            String path = f[5];
            int status = Integer.parseInt(f[6]);
            boolean checkNames = Boolean.parseBoolean(f[7]);

            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            Collection<? extends Certificate> serverChain = cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(Paths.get(chain))));
            // JKS, not PKCS12: a PKCS12 store encrypts the key on setKeyEntry and decrypts it in kmf.init (PBKDF2,
            // 10,000 iterations each: ~50 ms a listener, measured); JKS protects it with one cheap SHA-1 stream.
            KeyStore ks = KeyStore.getInstance("JKS");
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
            try {
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
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
            OUT.println(prefix + "listening " + server.getLocalPort());
            return new Listener(prefix, server, path, status);
        }

        void accept() {
            while (!closed) {
                SSLSocket s;
                try {
                    s = (SSLSocket) server.accept();
                } catch (IOException e) {
                    if (closed || server.isClosed()) { return; }
                    say("connection error " + oneLine(e));
                    continue;
                }
                open.add(s);
                if (closed) { closeQuietly(s); }
                Thread t = new Thread(() -> {
                    try {
                        serve(s);
                    } finally {
                        open.remove(s);
                    }
                });
                t.setDaemon(true);
                t.start();
            }
        }

        void close() {
            closed = true;
            try {
                server.close();
            } catch (IOException ignored) {
                // closed either way
            }
            // Closing a TLS socket may wait for a thread in its handshake: done aside, for at most a second,
            // so a stuck connection never holds up the commands.
            Thread closer = new Thread(() -> { for (SSLSocket s : open) { closeQuietly(s); } }, "close");
            closer.setDaemon(true);
            closer.start();
            try {
                closer.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** A line for the harness, unless this listener was closed (its lines would reach no one). */
        private void say(String line) {
            if (!closed) { OUT.println(prefix + line); }
        }

        private void serve(SSLSocket s) {
            try (SSLSocket socket = s) {
                socket.setSoTimeout(10000);
                try {
                    socket.startHandshake();
                } catch (IOException e) {
                    say("handshake failed " + oneLine(e));
                    return;
                }
                String subject = "-";
                try {
                    Certificate[] peer = socket.getSession().getPeerCertificates();
                    subject = ((X509Certificate) peer[0]).getSubjectX500Principal().getName();
                } catch (IOException noCertificate) {
                    // want-auth without a certificate
                }
                say("handshake ok " + socket.getSession().getProtocol() + " " + socket.getSession().getCipherSuite() + " " + subject);
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
                say("request " + parts[0] + " " + parts[1] + " " + answer);
            } catch (SocketTimeoutException e) {
                say("handshake failed " + oneLine(e));
            } catch (IOException | RuntimeException e) {
                say("connection error " + oneLine(e));
            }
        }
    }

    private static void closeQuietly(SSLSocket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closed either way
        }
    }

    private static PrivateKey privateKey(String path, X509Certificate cert) throws Exception {
        String pem = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.US_ASCII);
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        byte[] der = Base64.getDecoder().decode(body);
        String algorithm = cert.getPublicKey().getAlgorithm(); // "EC" or "RSA"
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    private static String oneLine(Throwable e) {
        List<String> out = new ArrayList<>();
        for (Throwable t = e; t != null && out.size() < 8; t = t.getCause()) {
            out.add(t.getClass().getName() + ": " + t.getMessage());
        }
        return String.join(" <- ", out).replace('\n', ' ');
    }
}

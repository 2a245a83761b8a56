#!/usr/bin/env bash
# The plain way, for comparison: what a careful engineer scripts with keytool and
# openssl alone to do what one catalogue scenario does with engine "all" —
# client PKI (root, intermediate, leaf), server PKI, a JKS keystore and
# truststore, an MTLS server, one OpenSSL handshake + request and one Java
# handshake + POST (a cold JVM running the same probe the jsse engine runs).
#
#   JAVA_ONCE="java -cp ... MtlsProbe --once" benchmarks/baseline.sh N WORKDIR
# runs N scenarios and prints the seconds taken. Without JAVA_ONCE the Java
# handshake is left out (benchmarks/run.py passes the jsse engine's own command).
set -euo pipefail
n=${1:?number of scenarios}
work=${2:?work folder}
java_once=${JAVA_ONCE:-}
mkdir -p "$work/run"
cat > "$work/mtls_server.py" <<'PY'
import http.server, ssl, sys
class Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args): pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2]); ctx.load_verify_locations(sys.argv[3]); ctx.verify_mode = ssl.CERT_REQUIRED
server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("PORT", server.server_address[1], flush=True)
for _ in range(2): server.handle_request()
PY
cd "$work/run"
ks=bench-Ks-1 ts=bench-Ts-1

ca() { # name subject [issuer]
  if [ $# -eq 2 ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -subj "$2" -days 30 \
      -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  else
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n' > ext
    openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -out "$1.crt" -days 30 -extfile ext 2>/dev/null
  fi
}
leaf() { # name subject issuer extension-line
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$4" > ext
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -out "$1.crt" -days 30 -extfile ext 2>/dev/null
}

start=$(date +%s.%N)
for i in $(seq "$n"); do
  rm -f ./*.jks ./*.p12
  ca croot "/CN=Client Root $i"
  ca cca "/CN=Client CA $i" croot
  leaf client "/CN=client $i" cca "extendedKeyUsage=clientAuth"
  ca sroot "/CN=Server Root $i"
  ca sca "/CN=Server CA $i" sroot
  leaf server "/CN=127.0.0.1" sca "subjectAltName=IP:127.0.0.1"
  openssl pkcs12 -export -in client.crt -inkey client.key -certfile cca.crt -name client -out client.p12 -passout "pass:$ks"
  keytool -importkeystore -noprompt -srckeystore client.p12 -srcstoretype PKCS12 -srcstorepass "$ks" \
    -destkeystore keystore.jks -deststoretype JKS -deststorepass "$ks" -destkeypass "$ks" >/dev/null 2>&1
  keytool -importcert -noprompt -alias server-root -file sroot.crt -keystore truststore.jks -storepass "$ts" >/dev/null 2>&1
  # An MTLS server answering POSTs for two connections: the stdlib, as a plain
  # script would (openssl s_server answers GET only).
  cat server.crt sca.crt > server-chain.pem
  python3 ../mtls_server.py server-chain.pem server.key croot.crt > server.log 2>&1 &
  server=$!
  until grep -q PORT server.log 2>/dev/null; do sleep 0.01; done
  port=$(sed -n 's/^PORT //p' server.log)
  printf 'POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}' | openssl s_client -connect "127.0.0.1:$port" -cert client.crt -cert_chain cca.crt \
    -key client.key -CAfile sroot.crt -verify_return_error -quiet > client.log 2>&1 || true
  if [ -n "$java_once" ]; then
    printf '{"id":1,"url":"https://127.0.0.1:%s/","keystore":"%s","keystorePass":"%s","truststore":"%s","truststorePass":"%s","contentType":"application/json","bodyB64":"e30=","protocols":null,"timeoutMs":10000}\n' \
      "$port" "$PWD/keystore.jks" "$ks" "$PWD/truststore.jks" "$ts" | $java_once > java.log 2>&1 || true
  fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
done
end=$(date +%s.%N)
echo "$end - $start" | bc

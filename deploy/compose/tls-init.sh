#!/bin/sh
# A private CA and a certificate for the demo proxy, once. For anything but
# a trial, put the real certificate (chain + key in one PEM) into the `tls`
# volume instead and delete madoguchi.pem.
#   /etc/madoguchi/tls/madoguchi.pem   server chain + key, for HAProxy (crt dir)
#   /etc/madoguchi/ca/ca.pem           the CA, for desk.toml's counter_ca
# Names: https://localhost (a browser on this machine) and https://haproxy
# (the desk on the compose network).
set -eu
umask 077
if [ -s /etc/madoguchi/tls/madoguchi.pem ]; then
    echo "kept /etc/madoguchi/tls/madoguchi.pem"
    exit 0
fi
work=$(mktemp -d)
cd "$work"
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -days 825 -subj "/CN=madoguchi compose demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -subj "/CN=localhost" -keyout server.key -out server.csr
printf '%s\n' \
    "subjectAltName=DNS:localhost,DNS:haproxy,IP:127.0.0.1,IP:10.0.0.5" \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 397 -sha256 -extfile server.ext -out server.crt
cat server.crt server.key > /etc/madoguchi/tls/madoguchi.pem
umask 022
cp ca.pem /etc/madoguchi/ca/ca.pem
chmod 0644 /etc/madoguchi/ca/ca.pem
cd /
rm -rf "$work"
echo "created /etc/madoguchi/tls/madoguchi.pem and /etc/madoguchi/ca/ca.pem"

#!/usr/bin/env bash
# tests/tls/make_certs.sh DIR - a throw-away PKI for the TLS tests and
# examples, made at test time with Debian's openssl into DIR (never a key in
# the repository). EC P-256 keys: generating them takes milliseconds.
#
#   ca.crt ca.key            the test CA (what clients trust)
#   server.crt server.key    localhost: SAN DNS:localhost, IP:127.0.0.1 (serverAuth)
#   wronghost.crt            the server key, certified for wrong.example only
#   expired.crt              the server key, valid 2020-01-01 .. 2020-01-02
#   unknown.crt              the server key, certified by other-ca (not trusted)
#   other-ca.crt             that other CA
#   client.crt client.key    a client certificate from the test CA (clientAuth)
#   chain-mismatch.key       a key that matches none of the certificates
# Every file is remade on each run; the run takes well under a second.
set -euo pipefail

dir=${1:?usage: make_certs.sh DIR}
command -v openssl >/dev/null || { echo "make_certs.sh: openssl is not installed (ci/deps tls)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
work=$(mktemp -d "$PWD/.make_certs.XXXXXX")
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME CN: a self-signed CA.
ca() {
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 -sha256 -out "$1.crt" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
}

# leaf OUT KEY CA SAN EKU [START END]: a certificate for KEY signed by CA.
leaf() {
    local out=$1 k=$2 issuer=$3 san=$4 eku=$5 start=${6:-} end=${7:-}
    openssl req -new -key "$k" -subj "/CN=keel test ${out%.crt}" -out "$work/$out.csr" 2>/dev/null
    cat >"$work/$out.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$eku
subjectAltName=$san
EXT
    if [[ -z $start ]]; then
        openssl x509 -req -in "$work/$out.csr" -CA "$issuer.crt" -CAkey "$issuer.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days 30 -sha256 -extfile "$work/$out.ext" \
            -out "$out" 2>/dev/null
    else
        # openssl x509 cannot date a certificate in the past: openssl ca can.
        : >"$work/index.txt"
        cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
        openssl rand -hex 8 >"$work/serial"
        openssl ca -batch -config "$work/ca.cnf" -cert "$issuer.crt" -keyfile "$issuer.key" \
            -in "$work/$out.csr" -out "$out" -startdate "$start" -enddate "$end" \
            -extfile "$work/$out.ext" -notext 2>/dev/null
    fi
}

ca ca "keel test CA"
ca other-ca "keel other CA"
key server.key
key client.key
key chain-mismatch.key
leaf server.crt server.key ca "DNS:localhost,IP:127.0.0.1" serverAuth
leaf wronghost.crt server.key ca "DNS:wrong.example" serverAuth
leaf expired.crt server.key ca "DNS:localhost,IP:127.0.0.1" serverAuth 20200101000000Z 20200102000000Z
leaf unknown.crt server.key other-ca "DNS:localhost,IP:127.0.0.1" serverAuth
leaf client.crt client.key ca "DNS:client.example" clientAuth
rm -f other-ca.key
for f in ca.crt server.crt wronghost.crt expired.crt unknown.crt client.crt; do
    [[ -s $f ]] || { echo "make_certs.sh: $f was not made" >&2; exit 1; }
done
echo "make_certs.sh: test PKI in $PWD"

package rpc

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/realsync/real/identity"
)

// selfSigned makes the certificate a peer presents: self-signed by its
// identity key. Only the key inside matters to the other side (it is pinned),
// so the validity is long and there is no name.
func selfSigned(key ed25519.PrivateKey) (tls.Certificate, error) {
	if len(key) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("identity key: %d bytes, want an Ed25519 private key of %d", len(key), ed25519.PrivateKeySize)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: identity.Public(key).String()},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(20 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// errNoKey is the refusal of a connection that presented no certificate.
var errNoKey = errors.New("no client certificate")

// presentedKey returns the Ed25519 key of the leaf certificate of cs. The TLS
// handshake has proven that the other side holds its private half.
func presentedKey(cs tls.ConnectionState) (identity.PublicKey, error) {
	if len(cs.PeerCertificates) == 0 {
		return identity.PublicKey{}, errNoKey
	}
	k, ok := identity.FromCrypto(cs.PeerCertificates[0].PublicKey)
	if !ok {
		return k, fmt.Errorf("%w: certificate key is %T, not Ed25519", ErrPeerKey, cs.PeerCertificates[0].PublicKey)
	}
	return k, nil
}

// keyMismatch is the client's refusal of a server whose key is not pinned.
type keyMismatch struct {
	peer, addr string
	got, want  identity.PublicKey
}

func (e *keyMismatch) Error() string {
	return fmt.Sprintf("peer %s at %s presented key %s, but real.toml pins %s", e.peer, e.addr, e.got, e.want)
}

func (e *keyMismatch) Unwrap() error { return ErrPeerKey }

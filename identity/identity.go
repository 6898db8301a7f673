// Package identity holds a peer's Ed25519 key pair: STORE/identity.key (PKCS#8
// PEM, mode 0600) and the one-line public key form that real.toml pins
// ("ed25519:" followed by unpadded base64url of the 32 key bytes).
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

const prefix = "ed25519:"

// ErrBadKey is wrapped by every public-key parse error.
var ErrBadKey = errors.New("invalid public key")

// PublicKey is a peer's Ed25519 public key.
type PublicKey [ed25519.PublicKeySize]byte

// String is the pinned form, e.g. "ed25519:AbC…".
func (k PublicKey) String() string { return prefix + base64.RawURLEncoding.EncodeToString(k[:]) }

// ParsePublicKey parses the form String produces.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), prefix)
	if !ok {
		return k, fmt.Errorf("%w %q: must start with %q", ErrBadKey, s, prefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("%w %q: not 32 bytes of unpadded base64url", ErrBadKey, s)
	}
	// 32 bytes leave 4 unused low bits in the last character, so 16 strings
	// decode to one key. Only the one String writes is accepted: two spellings
	// in real.toml would otherwise name one key, and an error would quote a
	// string that is not the key's.
	if canon := base64.RawURLEncoding.EncodeToString(b); canon != rest {
		return k, fmt.Errorf("%w %q: not the canonical base64url of its bytes (unused low bits set in the last character; the key is written %q)", ErrBadKey, s, prefix+canon)
	}
	copy(k[:], b)
	return k, nil
}

// FromCrypto converts a crypto public key; ok is false if it is not Ed25519.
func FromCrypto(pub any) (PublicKey, bool) {
	var k PublicKey
	p, ok := pub.(ed25519.PublicKey)
	if !ok || len(p) != len(k) {
		return k, false
	}
	copy(k[:], p)
	return k, true
}

// Generate writes a new private key to file (mode 0600), refusing to
// overwrite an existing one.
func Generate(file string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create identity key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(file)
		return nil, fmt.Errorf("write identity key %s: %w", file, err)
	}
	// Synced: the other peers pin this key; a power loss must not leave
	// an empty key file behind a store that was set up.
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(file)
		return nil, fmt.Errorf("write identity key %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(file)
		return nil, fmt.Errorf("write identity key %s: %w", file, err)
	}
	return priv, nil
}

// Load reads the private key from file.
func Load(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("identity key %s: not a PEM private key", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", file, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity key %s: not an Ed25519 key", file)
	}
	return priv, nil
}

// Public returns the public half of priv.
func Public(priv ed25519.PrivateKey) PublicKey {
	k, _ := FromCrypto(priv.Public())
	return k
}

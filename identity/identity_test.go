package identity

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateLoad(t *testing.T) {
	f := filepath.Join(t.TempDir(), "identity.key")
	priv, err := Generate(f)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 0600", fi.Mode().Perm())
	}
	got, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) {
		t.Fatal("loaded key differs")
	}
	if _, err := Generate(f); err == nil {
		t.Fatal("Generate overwrote an existing key")
	}
	k := Public(priv)
	back, err := ParsePublicKey(k.String())
	if err != nil || back != k {
		t.Fatalf("ParsePublicKey(String()) = %v, %v", back, err)
	}
}

func TestParsePublicKeyRefuses(t *testing.T) {
	for _, s := range []string{"", "ed25519:", "ed25519:AAAA", "rsa:abc", "ed25519:" + string(make([]byte, 43))} {
		if _, err := ParsePublicKey(s); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParsePublicKey(%q) = %v, want ErrBadKey", s, err)
		}
	}
}

func TestLoadRefusesGarbage(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k")
	os.WriteFile(f, []byte("not a key"), 0o600)
	if _, err := Load(f); err == nil {
		t.Fatal("Load accepted garbage")
	}
}

func TestParsePublicKeyRefusesNonCanonical(t *testing.T) {
	priv, err := Generate(filepath.Join(t.TempDir(), "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	good := Public(priv).String()
	if _, err := ParsePublicKey(good); err != nil {
		t.Fatalf("ParsePublicKey(%q): %v", good, err)
	}
	// The last of 43 characters carries 2 key bits and 4 unused ones: flip
	// an unused one, the bytes stay the same.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, good[len(good)-1])
	bad := good[:len(good)-1] + string(alphabet[last^1])
	_, err = ParsePublicKey(bad)
	if !errors.Is(err, ErrBadKey) {
		t.Fatalf("ParsePublicKey(%q) = %v, want ErrBadKey", bad, err)
	}
	if !strings.Contains(err.Error(), bad) {
		t.Errorf("error %q does not name the key string %q", err, bad)
	}
}

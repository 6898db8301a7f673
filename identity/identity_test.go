package identity

import (
	"errors"
	"os"
	"path/filepath"
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

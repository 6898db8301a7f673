package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/realsync/real/identity"
)

func testKey(t *testing.T) string {
	t.Helper()
	priv, err := identity.Generate(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	return identity.Public(priv).String()
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	c := &Config{Name: "alice", Listen: "127.0.0.1:7400", Mount: "/srv/real",
		Peers:  []Peer{{Name: "bob", Address: "10.0.0.2:7400", Key: testKey(t)}},
		Arenas: []Arena{{Name: "photos", Policy: Own}, {Name: "media/music"}}}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != c.Name || got.Listen != c.Listen || got.Mount != c.Mount || len(got.Peers) != 1 || got.Peers[0] != c.Peers[0] || len(got.Arenas) != 2 {
		t.Fatalf("round trip changed the config: %+v", got)
	}
	if names := got.ArenaNames(); names[0] != "media/music" || names[1] != "photos" {
		t.Fatalf("ArenaNames = %v", names)
	}
}

func TestLoadRefuses(t *testing.T) {
	key := testKey(t)
	for name, body := range map[string]string{
		"unknown key":   "name = \"a\"\nlisten = \"127.0.0.1:1\"\ncolour = \"red\"\n",
		"unknown table": "name = \"a\"\n[[peers]]\nname = \"b\"\n",
		"not toml":      "name = \n",
		"bad name":      "name = \"../evil\"\n",
		"bad listen":    "name = \"a\"\nlisten = \"nowhere\"\n",
		"prefix arena":  "name = \"a\"\n[[arena]]\nname = \"media\"\n[[arena]]\nname = \"media/music\"\n",
		"dotdot arena":  "name = \"a\"\n[[arena]]\nname = \"../x\"\n",
		"bad policy":    "name = \"a\"\n[[arena]]\nname = \"x\"\npolicy = \"hoard\"\n",
		"bad key":       "name = \"a\"\n[[peer]]\nname = \"b\"\nkey = \"ssh-rsa AAAA\"\n",
		"dup peer":      "name = \"a\"\n[[peer]]\nname = \"b\"\nkey = \"" + key + "\"\n[[peer]]\nname = \"b\"\nkey = \"" + key + "\"\n",
		"self as peer":  "name = \"a\"\n[[peer]]\nname = \"a\"\nkey = \"" + key + "\"\n",
		"relative mnt":  "name = \"a\"\nmount = \"mnt\"\n",
		// A port that no socket can have was accepted, and failed only
		// when the daemon listened or dialled.
		"listen port too big":    "name = \"a\"\nlisten = \"127.0.0.1:74000\"\n",
		"listen port name":       "name = \"a\"\nlisten = \"127.0.0.1:74OO\"\n",
		"peer port not a number": "name = \"a\"\n[[peer]]\nname = \"b\"\naddress = \"b.lan:7400x\"\nkey = \"" + key + "\"\n",
		"peer port 0":            "name = \"a\"\n[[peer]]\nname = \"b\"\naddress = \"b.lan:0\"\nkey = \"" + key + "\"\n",
		"peer without port":      "name = \"a\"\n[[peer]]\nname = \"b\"\naddress = \"b.lan\"\nkey = \"" + key + "\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), FileName) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("name = \"a\"\nlisten = \"127.0.0.1:1\"\n[[arena]]\nname = \"x\"\n")
	f.Add("name = 1\n")
	f.Fuzz(func(t *testing.T, body string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(dir)
		if err != nil {
			return
		}
		// Whatever loads is valid and survives a save/load round trip.
		if err := c.Save(dir); err != nil {
			t.Fatalf("loaded config does not save: %v", err)
		}
		if _, err := Load(dir); err != nil {
			t.Fatalf("saved config does not load: %v", err)
		}
	})
}

// TestExample loads the documented example in testdata/.
func TestExample(t *testing.T) {
	c, err := Load("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "alice" || len(c.Peers) != 1 || c.Peers[0].Name != "bob" || len(c.Arenas) != 2 || c.Arenas[0].Policy != Own {
		t.Fatalf("example loaded as %+v", c)
	}
}

// Adding a peer or an arena to a hand-written real.toml (the documented
// example) keeps its text, comments included; a change to what the file
// already holds writes it afresh.
func TestSaveKeepsComments(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../testdata/real.toml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, FileName), example, 0o644)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	carol := Peer{Name: "carol", Address: "carol.lan:7400", Key: testKey(t)}
	c.Peers = append(c.Peers, carol)
	c.Arenas = append(c.Arenas, Arena{Name: "books", Policy: Watch})
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if !strings.HasPrefix(string(b), string(example)) {
		t.Fatalf("adding a peer and an arena rewrote the hand-written text:\n%s", b)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Peers) != 2 || got.Peers[1] != carol || len(got.Arenas) != 3 || got.Arenas[2] != (Arena{Name: "books", Policy: Watch}) ||
		got.Peers[0].Name != "bob" || got.Arenas[0] != (Arena{Name: "photos", Policy: Own}) || got.Mount != "/srv/real" {
		t.Fatalf("saved config loads as %+v", got)
	}
	// Saving it unchanged leaves the text alone.
	if err := got.Save(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, FileName)); string(again) != string(b) {
		t.Fatalf("saving an unchanged config rewrote it:\n%s", again)
	}
	// A change to what the file holds is written afresh, and loads as saved.
	got.Listen = "0.0.0.0:7500"
	got.Arenas = got.Arenas[1:]
	if err := got.Save(dir); err != nil {
		t.Fatal(err)
	}
	fresh, err := Load(dir)
	if err != nil || fresh.Listen != "0.0.0.0:7500" || len(fresh.Arenas) != 2 || fresh.Arenas[0].Name != "media/music" {
		t.Fatalf("after a change: %+v, %v", fresh, err)
	}
}

// Updates run in parallel all land (each holds the store's lock from load
// to save); an update whose change fails saves nothing.
func TestUpdateParallel(t *testing.T) {
	dir := t.TempDir()
	if err := (&Config{Name: "alice"}).Save(dir); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Update(dir, func(c *Config) error {
				c.Arenas = append(c.Arenas, Arena{Name: fmt.Sprintf("a%d", i)})
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	errNo := errors.New("no")
	if err := Update(dir, func(c *Config) error { c.Arenas = nil; return errNo }); !errors.Is(err, errNo) {
		t.Fatalf("Update with a failing change = %v", err)
	}
	c, err := Load(dir)
	if err != nil || len(c.Arenas) != n {
		t.Fatalf("after %d parallel updates: %+v, %v", n, c, err)
	}
	if err := Update(filepath.Join(dir, "none"), func(*Config) error { return nil }); err == nil || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("Update of a missing store = %v", err)
	}
}

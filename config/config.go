// Package config reads and writes STORE/real.toml, the configuration of one
// peer: its name, listen address, merged mountpoint, pinned peers and arenas.
// Unknown keys are an error, so a typo never silently changes behaviour.
//
//	name = "alice"
//	listen = "127.0.0.1:7400"
//	mount = "/srv/real"            # optional; --mount overrides
//
//	[[peer]]
//	name = "bob"
//	address = "10.0.0.2:7400"      # optional: a peer without one is only called back
//	key = "ed25519:…"
//
//	[[arena]]
//	name = "photos"
//	policy = "watch"               # own | watch; default watch
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"

	"github.com/realsync/real/identity"
	"github.com/realsync/real/tree"
)

// FileName is the configuration's name inside a store.
const FileName = "real.toml"

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

// Policy is an arena's default mark.
type Policy string

// Policies.
const (
	Own   Policy = "own"
	Watch Policy = "watch"
)

// Peer is a pinned remote peer.
type Peer struct {
	Name    string `toml:"name"`
	Address string `toml:"address,omitempty"`
	Key     string `toml:"key"`
}

// Arena is a named top-level folder of the merged tree.
type Arena struct {
	Name   string `toml:"name"`
	Policy Policy `toml:"policy,omitempty"`
}

// Config is the content of real.toml.
type Config struct {
	Name   string  `toml:"name"`
	Listen string  `toml:"listen,omitempty"`
	Mount  string  `toml:"mount,omitempty"`
	Peers  []Peer  `toml:"peer,omitempty"`
	Arenas []Arena `toml:"arena,omitempty"`
}

// Load reads and validates the configuration of the store in dir.
func Load(dir string) (*Config, error) {
	file := filepath.Join(dir, FileName)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	var c Config
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrInvalid, file, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%w %s: unknown key %s", ErrInvalid, file, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &c, nil
}

// Save validates c and writes it atomically to dir/real.toml. When c only
// adds peers or arenas to what the file holds (real peer add, real arena
// add), the file's text is kept, comments included, and the new tables are
// appended; otherwise c is written afresh.
func (c *Config) Save(dir string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	file := filepath.Join(dir, FileName)
	text, err := c.text(file)
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := writeSynced(tmp, text); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write configuration: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write configuration: %w", err)
	}
	// The rename itself reaches the disk with the directory.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writeSynced writes text to a new file and syncs it before it is closed:
// renamed over real.toml unsynced, a power loss could leave real.toml
// empty on a filesystem that delays allocation (ext4).
func writeSynced(file string, text []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Update loads the configuration of the store in dir, applies change to it
// and saves it, holding an exclusive lock on the store directory from the
// load to the save: updates run in parallel (real peer add from a script)
// all land, none overwrites another. An error from change saves nothing.
func Update(dir string, change func(*Config) error) error {
	d, err := os.Open(dir)
	if err != nil {
		if _, lerr := Load(dir); lerr != nil {
			return lerr // names real.toml
		}
		return fmt.Errorf("lock configuration: %w", err)
	}
	defer d.Close() // releases the lock
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock configuration in %s: %w", dir, err)
	}
	c, err := Load(dir)
	if err != nil {
		return err
	}
	if err := change(c); err != nil {
		return err
	}
	return c.Save(dir)
}

// text returns what Save writes to file: the file's own text with the
// added peers and arenas appended when c only adds to what it holds (and
// the result decodes to c), else c encoded afresh.
func (c *Config) text(file string) ([]byte, error) {
	var fresh bytes.Buffer
	if err := toml.NewEncoder(&fresh).Encode(c); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	old, err := os.ReadFile(file)
	if err != nil {
		return fresh.Bytes(), nil
	}
	var was Config
	if md, err := toml.Decode(string(old), &was); err != nil || len(md.Undecoded()) > 0 || !was.prefixOf(c) {
		return fresh.Bytes(), nil
	}
	add := struct {
		Peers  []Peer  `toml:"peer,omitempty"`
		Arenas []Arena `toml:"arena,omitempty"`
	}{c.Peers[len(was.Peers):], c.Arenas[len(was.Arenas):]}
	if len(add.Peers) == 0 && len(add.Arenas) == 0 {
		return old, nil
	}
	var tail bytes.Buffer
	enc := toml.NewEncoder(&tail)
	enc.Indent = ""
	if err := enc.Encode(add); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	text := bytes.Clone(old)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		text = append(text, '\n')
	}
	text = append(append(text, '\n'), tail.Bytes()...)
	var got Config
	if md, err := toml.Decode(string(text), &got); err != nil || len(md.Undecoded()) > 0 || !got.prefixOf(c) || !c.prefixOf(&got) {
		return fresh.Bytes(), nil
	}
	return text, nil
}

// prefixOf reports whether d is c with peers or arenas (or none) added at the end.
func (c *Config) prefixOf(d *Config) bool {
	return c.Name == d.Name && c.Listen == d.Listen && c.Mount == d.Mount &&
		len(c.Peers) <= len(d.Peers) && slices.Equal(c.Peers, d.Peers[:len(c.Peers)]) &&
		len(c.Arenas) <= len(d.Arenas) && slices.Equal(c.Arenas, d.Arenas[:len(c.Arenas)])
}

// CheckName validates a peer name: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'.
func CheckName(n string) error {
	if n == "" || len(n) > 64 || n[0] == '.' || n[0] == '-' {
		return fmt.Errorf("%w: peer name %q must be 1-64 characters of A-Z a-z 0-9 . _ - and not start with . or -", ErrInvalid, n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: peer name %q must be 1-64 characters of A-Z a-z 0-9 . _ - and not start with . or -", ErrInvalid, n)
		}
	}
	return nil
}

// CheckAddress validates a HOST:PORT address, PORT a number 0-65535 (0: any
// free port, for a listen address).
func CheckAddress(a string) error {
	_, err := checkPort(a)
	return err
}

// checkPort validates a HOST:PORT address and returns its port.
func checkPort(a string) (uint64, error) {
	_, port, err := net.SplitHostPort(a)
	if err != nil || port == "" {
		return 0, fmt.Errorf("%w: address %q is not HOST:PORT", ErrInvalid, a)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: address %q: port %q is not a number from 0 to 65535", ErrInvalid, a, port)
	}
	return n, nil
}

// Validate checks every field and the relations between them.
func (c *Config) Validate() error {
	if err := CheckName(c.Name); err != nil {
		return err
	}
	if c.Listen != "" {
		if err := CheckAddress(c.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	if c.Mount != "" && !filepath.IsAbs(c.Mount) {
		return fmt.Errorf("%w: mount %q is not an absolute path", ErrInvalid, c.Mount)
	}
	names := map[string]bool{c.Name: true}
	keys := map[identity.PublicKey]string{}
	for _, p := range c.Peers {
		if err := CheckName(p.Name); err != nil {
			return err
		}
		if names[p.Name] {
			return fmt.Errorf("%w: peer name %q is used twice (or is this peer's own name)", ErrInvalid, p.Name)
		}
		names[p.Name] = true
		if p.Address != "" {
			port, err := checkPort(p.Address)
			if err == nil && port == 0 {
				err = fmt.Errorf("%w: address %q: port 0 cannot be dialled", ErrInvalid, p.Address)
			}
			if err != nil {
				return fmt.Errorf("peer %s: %w", p.Name, err)
			}
		}
		k, err := identity.ParsePublicKey(p.Key)
		if err != nil {
			return fmt.Errorf("%w: peer %s: %v", ErrInvalid, p.Name, err)
		}
		if other, dup := keys[k]; dup {
			return fmt.Errorf("%w: peers %s and %s have the same key", ErrInvalid, other, p.Name)
		}
		keys[k] = p.Name
	}
	arenas := make([]string, len(c.Arenas))
	for i, a := range c.Arenas {
		arenas[i] = a.Name
		switch a.Policy {
		case "", Own, Watch:
		default:
			return fmt.Errorf("%w: arena %s: policy %q is not own or watch", ErrInvalid, a.Name, a.Policy)
		}
	}
	if err := tree.CheckArenas(arenas); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// ArenaNames returns the arena names, sorted.
func (c *Config) ArenaNames() []string {
	s := make([]string, len(c.Arenas))
	for i, a := range c.Arenas {
		s[i] = a.Name
	}
	sort.Strings(s)
	return s
}

// PeerByKey returns the peer pinned with key k.
func (c *Config) PeerByKey(k identity.PublicKey) (Peer, bool) {
	for _, p := range c.Peers {
		if pk, err := identity.ParsePublicKey(p.Key); err == nil && pk == k {
			return p, true
		}
	}
	return Peer{}, false
}

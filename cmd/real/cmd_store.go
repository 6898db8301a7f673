package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/realsync/real/config"
	"github.com/realsync/real/daemon"
	"github.com/realsync/real/identity"
)

// cmdInit creates a store. It refuses an existing one, and on failure
// removes exactly what it created.
func cmdInit(args []string, stdout, stderr io.Writer) (err error) {
	fs := flags("init", stderr)
	store := fs.String("store", "", "store directory to create")
	name := fs.String("name", "", "this peer's name")
	listen := fs.String("listen", "", "HOST:PORT to serve other peers on")
	mount := fs.String("mount", "", "merged mountpoint (absolute); real run --mount overrides")
	if err := parse(fs, args, map[string]*string{"store": store, "name": name}); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg := &config.Config{Name: *name, Listen: *listen, Mount: *mount}
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, f := range []string{config.FileName, daemon.KeyFile} {
		if _, err := os.Lstat(filepath.Join(*store, f)); err == nil {
			return fmt.Errorf("store %s already exists (it has %s); refusing to overwrite it", *store, f)
		}
	}
	var created []string // undone in reverse on failure
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				os.Remove(created[i])
			}
		}
	}()
	mkdir := func(d string) error {
		if _, err := os.Stat(d); err == nil {
			return nil
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
		created = append(created, d)
		return nil
	}
	// Create the store and any missing parents, remembering each for undo.
	var missing []string
	for d := filepath.Clean(*store); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := mkdir(missing[i]); err != nil {
			return err
		}
	}
	for _, d := range []string{daemon.UpperDir, daemon.WorkDir, daemon.LowerDir} {
		if err := mkdir(filepath.Join(*store, d)); err != nil {
			return err
		}
	}
	keyFile := filepath.Join(*store, daemon.KeyFile)
	priv, err := identity.Generate(keyFile)
	if err != nil {
		return err
	}
	created = append(created, keyFile)
	if err := cfg.Save(*store); err != nil {
		return err
	}
	created = append(created, filepath.Join(*store, config.FileName))
	fmt.Fprintf(stdout, "created store %s for peer %s\nkey %s\n", *store, *name, identity.Public(priv))
	return nil
}

func cmdKey(args []string, stdout, stderr io.Writer) error {
	fs := flags("key", stderr)
	store := fs.String("store", "", "store directory")
	if err := parse(fs, args, map[string]*string{"store": store}); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	priv, err := identity.Load(filepath.Join(*store, daemon.KeyFile))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, identity.Public(priv))
	return nil
}

func cmdPeerAdd(args []string, stdout, stderr io.Writer) error {
	fs := flags("peer add", stderr)
	store := fs.String("store", "", "store directory")
	name := fs.String("name", "", "the peer's name")
	address := fs.String("address", "", "HOST:PORT the peer listens on (optional)")
	key := fs.String("key", "", "the peer's public key, as real key prints it")
	if err := parse(fs, args, map[string]*string{"store": store, "name": name, "key": key}); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if _, err := config.Load(*store); err != nil {
		return err // a missing or broken real.toml is named before the key
	}
	own, err := identity.Load(filepath.Join(*store, daemon.KeyFile))
	if err != nil {
		return err
	}
	if k, err := identity.ParsePublicKey(*key); err == nil && k == identity.Public(own) {
		return fmt.Errorf("key %s is this peer's own key", *key)
	}
	return config.Update(*store, func(cfg *config.Config) error {
		for _, p := range cfg.Peers {
			if p.Name == *name {
				return fmt.Errorf("peer %s is already pinned in %s", *name, filepath.Join(*store, config.FileName))
			}
		}
		cfg.Peers = append(cfg.Peers, config.Peer{Name: *name, Address: *address, Key: *key})
		return nil
	})
}

func cmdArenaAdd(args []string, stdout, stderr io.Writer) error {
	fs := flags("arena add", stderr)
	store := fs.String("store", "", "store directory")
	name := fs.String("name", "", "arena name (may contain /)")
	policy := fs.String("policy", "", "default mark: own or watch (default watch)")
	if err := parse(fs, args, map[string]*string{"store": store, "name": name}); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	return config.Update(*store, func(cfg *config.Config) error {
		cfg.Arenas = append(cfg.Arenas, config.Arena{Name: *name, Policy: config.Policy(*policy)})
		return nil
	})
}

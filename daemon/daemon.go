// Package daemon is the running peer that `real run` starts: it mounts the
// Unreal at STORE/lower, the overlay over it at the merged mountpoint, runs
// the watcher and indexer on STORE/upper, serves the peer RPC services and
// sends this peer's history to every other peer.
//
// Shutdown order (on context cancel): stop serving RPC and sending, stop the
// watcher, unmount the overlay, unmount the Unreal, close the database.
//
// Where a peer resumes: its progress (the last index of our history it
// applied) stands for a history id (history_id.go: a store that started
// over has another) and a chain (chain.go: a fingerprint of our history up
// to a position, kept lazily beside index_history in daemon_chain, so that
// a store restored from a backup of its real.db, same id but a history that
// went back and grew again, is told apart too). A progress of another id,
// or whose chain is not ours there, gets a full report instead of the
// entries after it. A peer that sends no chain (older) is not checked.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"embed"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/config"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/index"
	real "github.com/realsync/real/real"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/sqlitedb"
	"github.com/realsync/real/unreal"
)

// Names inside a store (DESIGN.md "Store layout").
const (
	KeyFile  = "identity.key"
	DBFile   = "real.db"
	UpperDir = "upper"
	WorkDir  = "work"
	LowerDir = "lower"
)

//go:embed schema/*.sql
var schema embed.FS

// Sentinel errors of Run, for callers that explain or map them to exit codes.
var (
	ErrNoMount     = errors.New("no merged mountpoint: give --mount or set mount in real.toml")
	ErrPrivilege   = errors.New("real run needs root (it mounts FUSE and overlay filesystems)")
	ErrNoFuse      = errors.New("cannot open /dev/fuse")
	ErrNoOverlay   = errors.New("this kernel has no overlay filesystem")
	ErrUpperAbsent = errors.New("the upper directory is missing")
)

// Options configure Run.
type Options struct {
	Store string       // the store directory
	Mount string       // merged mountpoint; overrides real.toml's mount
	Log   *slog.Logger // where everything is logged
	Ready func(Ready)  // called once when both mounts are up and every arena is visible
}

// Ready describes a peer that is up.
type Ready struct {
	Name   string
	Mount  string
	Listen string
	Arenas []string
}

// Preflight reports why this process cannot run a peer, or nil.
func Preflight() error {
	if os.Geteuid() != 0 {
		return ErrPrivilege
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoFuse, err)
	}
	f.Close()
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\toverlay\n") {
		return ErrNoOverlay
	}
	return nil
}

// Run runs a peer until ctx is cancelled, then shuts it down cleanly.
// Errors at start leave nothing mounted.
func Run(ctx context.Context, o Options) (err error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if err := Preflight(); err != nil {
		return err
	}
	cfg, err := config.Load(o.Store)
	if err != nil {
		return err
	}
	log = log.With("peer", cfg.Name)
	mount := o.Mount
	if mount == "" {
		mount = cfg.Mount
	}
	if mount == "" {
		return ErrNoMount
	}
	if mount, err = filepath.Abs(mount); err != nil {
		return err
	}
	key, err := identity.Load(filepath.Join(o.Store, KeyFile))
	if err != nil {
		return err
	}
	store, err := filepath.Abs(o.Store)
	if err != nil {
		return err
	}
	upper, work, lower := filepath.Join(store, UpperDir), filepath.Join(store, WorkDir), filepath.Join(store, LowerDir)
	if _, err := os.Stat(upper); err != nil {
		return fmt.Errorf("%w: %s (a store made by real init has it; refusing to start so that no file is reported deleted)", ErrUpperAbsent, upper)
	}
	if err := clearStale(log, mount, lower); err != nil {
		return err
	}
	for _, d := range []string{work, lower, mount} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	warnHidden(log, mount)

	db, err := sqlitedb.Open(filepath.Join(store, DBFile))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	arenas := cfg.ArenaNames()
	cache, err := unreal.OpenCache(ctx, db, arenas, log.With("component", "unreal"))
	if err != nil {
		return err
	}
	ix, err := index.Open(ctx, db, log.With("component", "index"))
	if err != nil {
		return err
	}
	if err := sqlitedb.Migrate(ctx, db, "daemon", schema, "schema"); err != nil {
		return fmt.Errorf("open daemon tables: %w", err)
	}
	hid, err := historyID(ctx, db)
	if err != nil {
		return err
	}

	peers := make([]rpc.Peer, 0, len(cfg.Peers))
	clients := map[string]*rpc.Client{}
	states := peerSet{}
	for _, p := range cfg.Peers {
		states[p.Name] = newPeerState(p.Name, p.Address)
		k, err := identity.ParsePublicKey(p.Key)
		if err != nil {
			return fmt.Errorf("peer %s: %w", p.Name, err)
		}
		rp := rpc.Peer{Name: p.Name, Key: k, Address: p.Address}
		peers = append(peers, rp)
		if p.Address != "" {
			c := rpc.NewClient(rp, key, log.With("component", "client", "to", p.Name))
			c.SetHistoryID(hid)
			clients[p.Name] = c
		}
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	loc := real.New(real.Layers{Upper: upper, Lower: lower, Arenas: arenas}, ix, remote{cache}, log.With("component", "real"))

	recv := &receiver{cache: cache, local: loc, life: ctx, db: db, arenas: arenas, peers: states, log: log.With("component", "receiver")}
	own := make(map[string]bool, len(arenas))
	for _, a := range arenas {
		own[a] = true
	}
	src := &source{ix: ix, db: db, peers: states, log: log.With("component", "source"), id: hid, own: own}
	if err := src.recordOwnArenas(ctx, arenas); err != nil {
		return err
	}
	if err := recv.forgetArenas(ctx); err != nil {
		return err
	}
	forgotten, err := recv.forgetPeers(ctx)
	if err != nil {
		return err
	}
	var srv *rpc.Server
	if cfg.Listen != "" {
		srv, err = rpc.NewServer(rpc.ServerConfig{
			Listen:  cfg.Listen,
			Key:     key,
			Peers:   peers,
			History: historyHandler{recv, src},
			Store:   storeHandler{loc: loc, own: own},
			Log:     log.With("component", "server"),
		})
		if err != nil {
			return err
		}
	}

	// The Unreal reads a peer's files through its client, or, for a peer
	// without an address, over the reverse connection it opens to us.
	readers := make(map[string]*rpc.Client, len(peers))
	for name, c := range clients {
		readers[name] = c
	}
	offers := map[string]*rpc.Offer{}
	for _, p := range peers {
		switch {
		case p.Address == "" && srv != nil:
			readers[p.Name] = srv.ReverseClient(p, log.With("component", "reverse", "to", p.Name))
		case p.Address != "" && cfg.Listen == "":
			// We cannot be called: offer our files over a connection we open.
			o, err := rpc.NewOffer(rpc.OfferConfig{Peer: p, Key: key, Store: storeHandler{loc: loc, own: own},
				Log: log.With("component", "offer", "to", p.Name)})
			if err != nil {
				return err
			}
			offers[p.Name] = o
		}
	}

	fs, err := unreal.Mount(lower, cache, fetcher{readers}, log.With("component", "unreal"))
	if err != nil {
		if srv != nil {
			srv.Shutdown(context.Background())
		}
		return err
	}
	defer func() {
		if uerr := unmountUnreal(log, fs, lower); uerr != nil && err == nil {
			err = uerr
		}
	}()
	if err := real.MountOverlay(lower, upper, work, mount); err != nil {
		if srv != nil {
			srv.Shutdown(context.Background())
		}
		return err
	}
	defer func() {
		if uerr := unmountOverlay(log, mount); uerr != nil && err == nil {
			err = uerr
		}
	}()
	for _, a := range arenas {
		if fi, err := os.Stat(filepath.Join(mount, a)); err != nil || !fi.IsDir() {
			if srv != nil {
				srv.Shutdown(context.Background())
			}
			return fmt.Errorf("arena %s is not visible in the merged view %s: %v", a, mount, err)
		}
	}

	if err := loc.CatchUp(ctx); err != nil {
		if srv != nil {
			srv.Shutdown(context.Background())
		}
		return fmt.Errorf("catch-up: %w", err)
	}
	recv.remoteChanged(ctx, "", forgotten) // local modifications over the forgotten peers' files

	ctl, err := rpc.ListenControl(filepath.Join(store, rpc.ControlName),
		&control{name: cfg.Name, arenas: arenas, started: time.Now(), ix: ix, cache: cache, src: src, peers: states, order: cfg.Peers,
			reverse: func(name string) bool {
				if o := offers[name]; o != nil {
					return o.Up()
				}
				return srv != nil && srv.Reverse(name)
			}},
		log.With("component", "control"))
	if err != nil {
		if srv != nil {
			srv.Shutdown(context.Background())
		}
		return err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	recv.life = runCtx // before any handler or puller runs
	var wg sync.WaitGroup
	errc := make(chan error, 3+2*len(clients))
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ctl.Serve(runCtx); err != nil {
			errc <- err
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := loc.Serve(runCtx); err != nil {
			errc <- fmt.Errorf("watcher: %w", err)
		}
	}()
	if srv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(runCtx); err != nil {
				errc <- fmt.Errorf("rpc server: %w", err)
			}
		}()
	}
	if len(clients) < len(states) || len(states) == 0 {
		// Senders trim when idle; a peer that only pulls has none, nor
		// does a peer alone.
		wg.Add(1)
		go func() {
			defer wg.Done()
			src.trimLoop(runCtx)
		}()
	}
	for name, c := range clients {
		s := &sender{peer: states[name], client: c, ix: ix, src: src, log: log.With("component", "sender", "to", name)}
		p := &puller{peer: states[name], client: c, recv: recv, log: log.With("component", "puller", "from", name)}
		wg.Add(2)
		go func() {
			defer wg.Done()
			s.run(runCtx)
		}()
		go func() {
			defer wg.Done()
			p.run(runCtx)
		}()
	}

	for _, o := range offers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			retry(runCtx, log.With("component", "offer"), o.Serve)
		}()
	}

	log.Info("ready", "mount", mount, "listen", cfg.Listen, "arenas", arenas)
	if o.Ready != nil {
		o.Ready(Ready{Name: cfg.Name, Mount: mount, Listen: cfg.Listen, Arenas: arenas})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		log.Error("stopping", "err", runErr)
	}
	stop()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	wg.Wait()
	for _, o := range offers {
		octx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := o.Close(octx); err != nil {
			log.Warn("offer", "err", err)
		}
		cancel()
	}
	log.Info("stopped serving; unmounting")
	return runErr
}

// warnHidden warns when the merged view is mounted over a directory that
// holds files: they are hidden (not touched) while real runs, and a user
// who put them there by mistake should know where they went.
func warnHidden(log *slog.Logger, mount string) {
	f, err := os.Open(mount)
	if err != nil {
		return
	}
	defer f.Close()
	names, _ := f.Readdirnames(3)
	if len(names) == 0 {
		return
	}
	log.Warn("the mountpoint is not empty: what it holds is hidden (not changed) while real runs, and shows again after it stops",
		"mount", mount, "some_entries", names)
}

// clearStale unmounts what a crashed run left mounted at the merged
// mountpoint (overlay first) and the Unreal's mountpoint.
func clearStale(log *slog.Logger, targets ...string) error {
	for _, t := range targets {
		m, err := real.Mounted(t)
		if err != nil {
			return err
		}
		if !m {
			continue
		}
		log.Warn("clearing a stale mount left by an earlier run", "path", t)
		if err := unix.Unmount(t, 0); err != nil {
			if err := unix.Unmount(t, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("clear stale mount %s: %w", t, err)
			}
		}
	}
	return nil
}

func unmountOverlay(log *slog.Logger, mount string) error {
	err := real.Unmount(mount)
	if err == nil {
		return nil
	}
	log.Warn("overlay busy; detaching it lazily", "path", mount, "err", err)
	if derr := unix.Unmount(mount, unix.MNT_DETACH); derr != nil {
		return fmt.Errorf("unmount %s: %w", mount, derr)
	}
	return nil
}

func unmountUnreal(log *slog.Logger, fs *unreal.Server, lower string) error {
	err := fs.Unmount()
	if err == nil {
		return nil
	}
	log.Warn("unreal busy; detaching it lazily", "path", lower, "err", err)
	if derr := unix.Unmount(lower, unix.MNT_DETACH); derr != nil {
		return fmt.Errorf("unmount %s: %w", lower, derr)
	}
	return nil
}

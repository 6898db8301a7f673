package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/realsync/real/config"
	"github.com/realsync/real/daemon"
	"github.com/realsync/real/index"
	"github.com/realsync/real/sqlitedb"
	"github.com/realsync/real/unreal"
)

type peerStatus struct {
	Name     string `json:"name"`
	Address  string `json:"address,omitempty"`
	Acked    uint64 `json:"acked"`    // our history entries this peer acknowledged
	Pending  uint64 `json:"pending"`  // our history entries not yet acknowledged
	Received uint64 `json:"received"` // the peer's history entries applied here
}

type status struct {
	Name    string       `json:"name"`
	Arenas  []string     `json:"arenas"`
	History uint64       `json:"history"` // index of the last entry of our history
	Peers   []peerStatus `json:"peers"`
}

// cmdStatus reads the store's database (it works whether or not the peer
// runs: SQLite in WAL mode lets it read beside the daemon).
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := flags("status", stderr)
	store := fs.String("store", "", "store directory")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, map[string]*string{"store": store}); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := config.Load(*store)
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := sqlitedb.Open(filepath.Join(*store, daemon.DBFile))
	if err != nil {
		return err
	}
	defer db.Close()
	ix, err := index.Open(ctx, db, discardLog())
	if err != nil {
		return err
	}
	cache, err := unreal.OpenCache(ctx, db, cfg.ArenaNames(), discardLog())
	if err != nil {
		return err
	}
	st := status{Name: cfg.Name, Arenas: cfg.ArenaNames(), Peers: []peerStatus{}}
	if st.History, err = ix.Last(ctx); err != nil {
		return err
	}
	for _, p := range cfg.Peers {
		ps := peerStatus{Name: p.Name, Address: p.Address}
		if ps.Acked, err = ix.Acked(ctx, p.Name); err != nil {
			return err
		}
		if st.History > ps.Acked {
			ps.Pending = st.History - ps.Acked
		}
		if ps.Received, err = cache.Progress(ctx, p.Name); err != nil {
			return err
		}
		st.Peers = append(st.Peers, ps)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(stdout, "peer %s: %d history entries; arenas %v\n", st.Name, st.History, st.Arenas)
	for _, p := range st.Peers {
		fmt.Fprintf(stdout, "  %-16s sent %d (%d pending), received %d\n", p.Name, p.Acked, p.Pending, p.Received)
	}
	return nil
}

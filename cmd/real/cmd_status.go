package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/realsync/real/config"
	"github.com/realsync/real/daemon"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/sqlitedb"
)

type peerStatus struct {
	Name     string `json:"name"`
	Address  string `json:"address,omitempty"`
	Acked    uint64 `json:"acked"`    // our history entries this peer acknowledged
	Pending  uint64 `json:"pending"`  // our history entries not yet acknowledged
	Received uint64 `json:"received"` // the last index of the peer's history applied here
	// Only when the peer runs (from STORE/control.sock):
	Connected bool `json:"connected"`
	// Reverse: a reverse connection with this peer is up (the one of us
	// without an address offers its files over a connection it opened).
	Reverse              bool       `json:"reverse"`
	LastContact          *time.Time `json:"last_contact,omitempty"`
	SentSinceStart       uint64     `json:"sent_since_start"`
	ReceivedSinceStart   uint64     `json:"received_since_start"`
	DuplicatesSinceStart uint64     `json:"duplicates_since_start"`
	ReportsSent          uint64     `json:"reports_sent"`
	ReportsReceived      uint64     `json:"reports_received"`
	LastError            string     `json:"last_error,omitempty"`
}

type status struct {
	Name          string       `json:"name"`
	Running       bool         `json:"running"` // answered on the control socket
	Started       *time.Time   `json:"started,omitempty"`
	Arenas        []string     `json:"arenas"`
	History       uint64       `json:"history"` // index of the last entry of our history
	Trimmed       uint64       `json:"trimmed"` // history up to this index was trimmed
	IndexRows     uint64       `json:"index_rows"`
	UnrealEntries uint64       `json:"unreal_entries"`
	Peers         []peerStatus `json:"peers"`
}

// cmdStatus asks the running peer on STORE/control.sock; when it does not
// run, it reads the store's database (counters since start are then 0).
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
	st, err := liveStatus(*store)
	if errors.Is(err, rpc.ErrUnavailable) {
		st, err = storedStatus(cfg, *store)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	state := "not running"
	if st.Running {
		state = "running since " + st.Started.Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "peer %s (%s): %d history entries (trimmed through %d), %d index rows, %d remote entries; arenas %v\n",
		st.Name, state, st.History, st.Trimmed, st.IndexRows, st.UnrealEntries, st.Arenas)
	for _, p := range st.Peers {
		conn := ""
		if st.Running {
			conn = "disconnected"
			if p.Connected {
				conn = "connected"
			}
			if p.Reverse {
				conn += ", reverse connection up"
			}
			if p.LastContact != nil {
				conn += ", last contact " + p.LastContact.Format(time.RFC3339)
			}
			conn = " [" + conn + "]"
		}
		fmt.Fprintf(stdout, "  %-16s acked %d (%d pending), received %d%s\n", p.Name, p.Acked, p.Pending, p.Received, conn)
		if st.Running {
			fmt.Fprintf(stdout, "  %-16s since start: sent %d, received %d (%d again), reports sent %d, received %d\n",
				"", p.SentSinceStart, p.ReceivedSinceStart, p.DuplicatesSinceStart, p.ReportsSent, p.ReportsReceived)
		}
		if p.LastError != "" {
			fmt.Fprintf(stdout, "  %-16s last error: %s\n", "", p.LastError)
		}
	}
	return nil
}

// liveStatus asks the running daemon; ErrUnavailable when none answers.
func liveStatus(store string) (status, error) {
	c := rpc.DialControl(filepath.Join(store, rpc.ControlName))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Status(ctx)
	if err != nil {
		return status{}, err
	}
	st := status{Name: s.Name, Running: true, Started: &s.Started, Arenas: s.Arenas, History: s.History, Trimmed: s.Trimmed,
		IndexRows: s.IndexRows, UnrealEntries: s.UnrealEntries, Peers: []peerStatus{}}
	if st.Arenas == nil {
		st.Arenas = []string{} // "arenas": [] as when not running, never null
	}
	for _, p := range s.Peers {
		ps := peerStatus{Name: p.Name, Address: p.Address, Acked: p.Acked, Pending: p.Pending, Received: p.Received,
			Connected: p.Connected, SentSinceStart: p.SentSinceStart, ReceivedSinceStart: p.ReceivedSinceStart,
			DuplicatesSinceStart: p.DuplicatesSinceStart, ReportsSent: p.ReportsSent, ReportsReceived: p.ReportsReceived,
			LastError: p.LastError, Reverse: p.Reverse}
		if !p.LastContact.IsZero() {
			ps.LastContact = &p.LastContact
		}
		st.Peers = append(st.Peers, ps)
	}
	return st, nil
}

// storedStatus reads real.db (SQLite in WAL mode lets it read beside a
// daemon too). It opens the database read-only and queries the tables
// directly: opening the index or the Unreal's cache would apply pending
// schema migrations and remove the entries of arenas no longer in
// real.toml, and looking at a store must not change it (the next real run
// does that). A table a store does not have yet counts as empty. A store
// that never ran has no real.db: its status is the configuration with
// nothing counted (and no real.db is made for it).
func storedStatus(cfg *config.Config, store string) (status, error) {
	ctx := context.Background()
	st := status{Name: cfg.Name, Arenas: cfg.ArenaNames(), Peers: []peerStatus{}}
	file := filepath.Join(store, daemon.DBFile)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		for _, p := range cfg.Peers {
			st.Peers = append(st.Peers, peerStatus{Name: p.Name, Address: p.Address})
		}
		return st, nil
	}
	db, err := sqlitedb.OpenReadOnly(file)
	if err != nil {
		return status{}, err
	}
	defer db.Close()
	count := func(what, q string, args ...any) (uint64, error) {
		var n int64
		err := db.QueryRowContext(ctx, q, args...).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) || (err != nil && strings.Contains(err.Error(), "no such table")) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read %s from %s: %w", what, file, err)
		}
		return uint64(n), nil
	}
	if st.History, err = count("history", `SELECT coalesce(max(idx), 0) FROM index_history`); err != nil {
		return st, err
	}
	if st.Trimmed, err = daemon.Trimmed(ctx, db); err != nil {
		return st, err
	}
	st.History = max(st.History, st.Trimmed)
	if st.IndexRows, err = count("index rows", `SELECT count(*) FROM index_entry`); err != nil {
		return st, err
	}
	// Only the configured arenas' entries: the next run removes the others.
	for _, a := range st.Arenas {
		n, err := count("remote entries", `SELECT count(*) FROM unreal_entries WHERE arena = ?`, a)
		if err != nil {
			return st, err
		}
		st.UnrealEntries += n
	}
	for _, p := range cfg.Peers {
		ps := peerStatus{Name: p.Name, Address: p.Address}
		if ps.Acked, err = count("acked progress", `SELECT idx FROM index_acked WHERE peer = ?`, p.Name); err != nil {
			return st, err
		}
		if st.History > ps.Acked {
			ps.Pending = st.History - ps.Acked
		}
		if ps.Received, err = count("received progress", `SELECT last FROM unreal_progress WHERE peer = ?`, p.Name); err != nil {
			return st, err
		}
		st.Peers = append(st.Peers, ps)
	}
	return st, nil
}

package unreal

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/sqlitedb"
	"github.com/realsync/real/tree"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// Errors Apply and the queries return; callers branch on them with errors.Is.
var (
	// ErrUnknownArena: the arena is not one of the configured arenas.
	ErrUnknownArena = errors.New("unknown arena")
	// ErrBadIndex: history indexes in a batch are not strictly increasing (or zero).
	ErrBadIndex = errors.New("bad history index")
	// ErrBadEntry: an entry failed validation (history.Entry.Check or mtime range).
	ErrBadEntry = errors.New("invalid notification")
)

// Entry is the version of a file one peer reports.
type Entry struct {
	Peer  string
	Size  int64
	Mtime time.Time
	Blob  blob.Hash
}

// Cache is the Unreal's metadata: what every peer reports, kept in the
// unreal_* tables of the shared database. It is safe for concurrent use.
type Cache struct {
	db       *sql.DB
	log      *slog.Logger
	arenas   []string        // sorted
	arenaSet map[string]bool // configured arenas
	fixed    map[string]bool // root, arenas and their prefixes (full paths)
	now      func() time.Time
	stmt     statements
	q        *sqlitedb.Stmts // other frequent read queries, prepared once

	mu      sync.Mutex
	servers map[*Server]struct{} // mounted filesystems to invalidate after Apply
}

// OpenCache migrates the unreal_* tables in db and returns the cache serving
// the given arenas (validated with tree.CheckArenas). Every arena, and every
// directory on the way to a multi-level arena, is a directory even when empty.
func OpenCache(ctx context.Context, db *sql.DB, arenas []string, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := tree.CheckArenas(arenas); err != nil {
		return nil, fmt.Errorf("open unreal cache: %w", err)
	}
	if err := sqlitedb.Migrate(ctx, db, "unreal", schemaFS, "schema"); err != nil {
		return nil, fmt.Errorf("open unreal cache: %w", err)
	}
	c := &Cache{
		db:       db,
		q:        sqlitedb.NewStmts(db),
		log:      log,
		arenas:   append([]string(nil), arenas...),
		arenaSet: make(map[string]bool),
		fixed:    map[string]bool{"": true},
		now:      time.Now,
		servers:  make(map[*Server]struct{}),
	}
	sort.Strings(c.arenas)
	for _, a := range c.arenas {
		c.arenaSet[a] = true
		for d := a; d != ""; d = parentOf(d) {
			c.fixed[d] = true
		}
	}
	if err := c.fixDirs(ctx); err != nil {
		return nil, fmt.Errorf("open unreal cache: %w", err)
	}
	if err := c.prepare(ctx); err != nil {
		return nil, fmt.Errorf("open unreal cache: %w", err)
	}
	return c, nil
}

// fixDirs records the fixed directories (root, arenas, their prefixes) and
// their inode numbers, and removes what belongs to arenas no longer
// configured: their entries, staged catch-up reports, and the directories
// left without files (inode numbers stay reserved). When the shown tree
// lost or gained an arena, the fixed directories' mtimes move forward.
func (c *Cache) fixDirs(ctx context.Context) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	changed, err := c.dropArenas(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE unreal_dirs SET fixed = 0 WHERE fixed = 1`); err != nil {
		return err
	}
	now := c.now().UnixNano()
	for d := range c.fixed {
		var parent any
		if d != "" {
			parent = parentOf(d)
		}
		var existed bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM unreal_dirs WHERE path = ?)`, d).Scan(&existed); err != nil {
			return err
		}
		changed = changed || !existed
		if _, err := tx.ExecContext(ctx, `INSERT INTO unreal_dirs (path, parent, name, mtime, fixed) VALUES (?, ?, ?, ?, 1)
			ON CONFLICT (path) DO UPDATE SET fixed = 1`, d, parent, baseOf(d), now); err != nil {
			return err
		}
		if err := allocInode(ctx, tx, d, true); err != nil {
			return err
		}
	}
	// Directories no longer fixed and without files below them go.
	res, err := tx.ExecContext(ctx, `DELETE FROM unreal_dirs WHERE fixed = 0
		AND NOT EXISTS (SELECT 1 FROM unreal_entries e WHERE e.dir = unreal_dirs.path)
		AND NOT EXISTS (SELECT 1 FROM unreal_entries e WHERE e.dir >= unreal_dirs.path || '/' AND e.dir < unreal_dirs.path || '0')`)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n > 0 {
		changed = true
	}
	if changed {
		if _, err := tx.ExecContext(ctx, `UPDATE unreal_dirs SET mtime = max(mtime + 1, ?) WHERE fixed = 1`, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// dropArenas deletes the entries and staged reports of arenas that are not
// configured (any more), and reports whether there were any.
func (c *Cache) dropArenas(ctx context.Context, tx *sql.Tx) (bool, error) {
	dropped := false
	for _, table := range []string{"unreal_entries", "unreal_catchup"} {
		// A skip-scan over the arenas present: one index seek per arena.
		rows, err := tx.QueryContext(ctx, `WITH RECURSIVE a(x) AS (
				SELECT min(arena) FROM `+table+`
				UNION ALL SELECT (SELECT min(arena) FROM `+table+` WHERE arena > x) FROM a WHERE x IS NOT NULL)
			SELECT x FROM a WHERE x IS NOT NULL`)
		if err != nil {
			return false, err
		}
		var gone []string
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return false, err
			}
			if !c.arenaSet[a] {
				gone = append(gone, a)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, err
		}
		for _, a := range gone {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE arena = ?`, a)
			if err != nil {
				return false, err
			}
			n, _ := res.RowsAffected()
			if table == "unreal_entries" {
				c.log.Info("unreal: removed the entries of an arena no longer configured", "arena", a, "entries", n)
				dropped = true
			}
		}
	}
	return dropped, nil
}

// Arenas returns the configured arenas, sorted.
func (c *Cache) Arenas() []string { return append([]string(nil), c.arenas...) }

// visible reports whether the directory or file at full path belongs to the
// shown tree: the root, an arena or a prefix of one, or inside an arena.
func (c *Cache) visible(full string) bool {
	if c.fixed[full] {
		return true
	}
	_, rel, ok := tree.Split(c.arenas, full)
	return ok && rel != ""
}

func (c *Cache) attach(s *Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers[s] = struct{}{}
}

func (c *Cache) detach(s *Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.servers, s)
}

func (c *Cache) mounted() []*Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Server, 0, len(c.servers))
	for s := range c.servers {
		out = append(out, s)
	}
	return out
}

// parentOf returns the parent of a full path ("" for a top-level name).
func parentOf(full string) string {
	i := strings.LastIndexByte(full, '/')
	if i < 0 {
		return ""
	}
	return full[:i]
}

// baseOf returns the last element of a full path.
func baseOf(full string) string {
	return full[strings.LastIndexByte(full, '/')+1:]
}

// joinFull joins a directory full path and a name.
func joinFull(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func allocInode(ctx context.Context, x execer, full string, dir bool) error {
	_, err := x.ExecContext(ctx, `INSERT OR IGNORE INTO unreal_inodes (path, dir) VALUES (?, ?)`, full, boolInt(dir))
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

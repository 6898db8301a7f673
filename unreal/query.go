package unreal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/tree"
)

// qServed selects the served version of (arena, path): the latest mtime
// across peers, ties broken by the smallest peer name.
const qServed = `SELECT peer, size, mtime, blob FROM unreal_entries WHERE arena = ? AND path = ?
	ORDER BY mtime DESC, peer ASC LIMIT 1`

func scanServed(r *sql.Row) (Entry, bool, error) {
	var e Entry
	var mt int64
	var b []byte
	err := r.Scan(&e.Peer, &e.Size, &mt, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	e.Mtime = time.Unix(0, mt)
	if e.Blob, err = blob.FromBytes(b); err != nil {
		return Entry{}, false, fmt.Errorf("stored blob: %w", err)
	}
	return e, true, nil
}

// Lookup returns the served version of a file: among the peers that report
// it, the one with the latest mtime (ties: the smallest peer name).
func (c *Cache) Lookup(ctx context.Context, arena, path string) (Entry, bool, error) {
	if !c.arenaSet[arena] {
		return Entry{}, false, fmt.Errorf("lookup %s/%s: %w %q", arena, path, ErrUnknownArena, arena)
	}
	e, ok, err := scanServed(c.stmt.served.QueryRowContext(ctx, arena, path))
	if err != nil {
		return Entry{}, false, fmt.Errorf("lookup %s/%s: %w", arena, path, err)
	}
	return e, ok, nil
}

// Walk calls fn for every served file under dir ("" = the whole arena) of
// arena, in path order (byte order of the path). fn may call other Cache
// methods. An error from fn stops the walk and is returned.
func (c *Cache) Walk(ctx context.Context, arena, dir string, fn func(path string, e Entry) error) error {
	if !c.arenaSet[arena] {
		return fmt.Errorf("walk %s/%s: %w %q", arena, dir, ErrUnknownArena, arena)
	}
	lo, hi := "", "\U0010FFFF\xff"
	if dir != "" {
		if err := tree.CheckPath(dir); err != nil {
			return fmt.Errorf("walk %s: %w", arena, err)
		}
		lo, hi = dir+"/", dir+"0" // '0' is the byte after '/'
	}
	rows, err := c.q.Query(ctx, `SELECT path, peer, size, mtime, blob FROM unreal_entries
		WHERE arena = ? AND path >= ? AND path < ? ORDER BY path, mtime DESC, peer`, arena, lo, hi)
	if err != nil {
		return fmt.Errorf("walk %s/%s: %w", arena, dir, err)
	}
	defer rows.Close()
	last, first := "", true
	for rows.Next() {
		var p string
		var e Entry
		var mt int64
		var b []byte
		if err := rows.Scan(&p, &e.Peer, &e.Size, &mt, &b); err != nil {
			return fmt.Errorf("walk %s/%s: %w", arena, dir, err)
		}
		if !first && p == last {
			continue // an older version of the path just served
		}
		first, last = false, p
		e.Mtime = time.Unix(0, mt)
		if e.Blob, err = blob.FromBytes(b); err != nil {
			return fmt.Errorf("walk %s/%s: %s: %w", arena, dir, p, err)
		}
		if err := fn(p, e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("walk %s/%s: %w", arena, dir, err)
	}
	return nil
}

// errNotFound is returned by the node queries for a path not shown.
var errNotFound = errors.New("not found")

// The queries the filesystem runs on every LOOKUP and GETATTR, prepared
// once (see prepare). Each joins the persistent inode number.
const (
	qDirInfo = `SELECT d.mtime, i.ino FROM unreal_dirs d
		LEFT JOIN unreal_inodes i ON i.path = d.path AND i.dir = 1 WHERE d.path = ?`
	qFileInfo = `SELECT e.peer, e.size, e.mtime, e.blob, i.ino FROM unreal_entries e
		LEFT JOIN unreal_inodes i ON i.path = ?1 AND i.dir = 0
		WHERE e.arena = ?2 AND e.path = ?3 ORDER BY e.mtime DESC, e.peer ASC LIMIT 1`
	// qNode answers a LOOKUP in one statement: the directory if there is
	// one (a directory wins over a file of the same name), else the served
	// version of the file.
	qNode = `SELECT * FROM (
			SELECT 1 AS isdir, d.mtime, 0, '', x'', i.ino FROM unreal_dirs d
			LEFT JOIN unreal_inodes i ON i.path = d.path AND i.dir = 1 WHERE d.path = ?1
		UNION ALL
			SELECT * FROM (SELECT 0 AS isdir, e.mtime, e.size, e.peer, e.blob, i.ino FROM unreal_entries e
			LEFT JOIN unreal_inodes i ON i.path = ?1 AND i.dir = 0
			WHERE e.arena = ?2 AND e.path = ?3 ORDER BY e.mtime DESC, e.peer ASC LIMIT 1)
		) ORDER BY isdir DESC LIMIT 1`
)

type statements struct {
	served, dirInfo, fileInfo, node *sql.Stmt
}

func (c *Cache) prepare(ctx context.Context) error {
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{{&c.stmt.served, qServed}, {&c.stmt.dirInfo, qDirInfo}, {&c.stmt.fileInfo, qFileInfo}, {&c.stmt.node, qNode}} {
		s, err := c.db.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*p.s = s
	}
	return nil
}

// dirInfo returns the mtime and inode number of the shown directory full.
func (c *Cache) dirInfo(ctx context.Context, full string) (time.Time, uint64, error) {
	if !c.visible(full) {
		return time.Time{}, 0, errNotFound
	}
	var mt int64
	var ino sql.NullInt64
	err := c.stmt.dirInfo.QueryRowContext(ctx, full).Scan(&mt, &ino)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, 0, errNotFound
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("directory %q: %w", full, err)
	}
	n, err := c.ino(ctx, full, true, ino)
	return time.Unix(0, mt), n, err
}

// fileInfo returns the served version and inode number of the shown file full.
func (c *Cache) fileInfo(ctx context.Context, full string) (Entry, uint64, error) {
	arena, rel, ok := tree.Split(c.arenas, full)
	if !ok || rel == "" {
		return Entry{}, 0, errNotFound
	}
	var e Entry
	var mt int64
	var b []byte
	var ino sql.NullInt64
	err := c.stmt.fileInfo.QueryRowContext(ctx, full, arena, rel).Scan(&e.Peer, &e.Size, &mt, &b, &ino)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, 0, errNotFound
	}
	if err != nil {
		return Entry{}, 0, fmt.Errorf("file %q: %w", full, err)
	}
	e.Mtime = time.Unix(0, mt)
	if e.Blob, err = blob.FromBytes(b); err != nil {
		return Entry{}, 0, fmt.Errorf("file %q: stored blob: %w", full, err)
	}
	n, err := c.ino(ctx, full, false, ino)
	return e, n, err
}

// nodeInfo is what a LOOKUP finds at a full path.
type nodeInfo struct {
	dir   bool
	mtime time.Time // of the directory
	entry Entry     // of the file
	ino   uint64
}

// node looks up the shown directory or file at full in one query.
func (c *Cache) node(ctx context.Context, full string) (nodeInfo, error) {
	if !c.visible(full) {
		return nodeInfo{}, errNotFound
	}
	arena, rel, _ := tree.Split(c.arenas, full) // "" when outside every arena: then only a dir matches
	var (
		n     nodeInfo
		isDir int
		mt    int64
		b     []byte
		ino   sql.NullInt64
	)
	err := c.stmt.node.QueryRowContext(ctx, full, arena, rel).Scan(&isDir, &mt, &n.entry.Size, &n.entry.Peer, &b, &ino)
	if errors.Is(err, sql.ErrNoRows) {
		return nodeInfo{}, errNotFound
	}
	if err != nil {
		return nodeInfo{}, fmt.Errorf("lookup %q: %w", full, err)
	}
	n.dir = isDir == 1
	if n.dir {
		n.mtime = time.Unix(0, mt)
	} else {
		n.entry.Mtime = time.Unix(0, mt)
		if n.entry.Blob, err = blob.FromBytes(b); err != nil {
			return nodeInfo{}, fmt.Errorf("lookup %q: stored blob: %w", full, err)
		}
	}
	n.ino, err = c.ino(ctx, full, n.dir, ino)
	return n, err
}

// ino returns the persistent inode number of (full, dir), known is the
// number when the caller already joined it. A missing number (a database
// written before the row existed) is allocated on the spot.
func (c *Cache) ino(ctx context.Context, full string, dir bool, known sql.NullInt64) (uint64, error) {
	if known.Valid {
		return uint64(known.Int64), nil
	}
	var n int64
	err := c.q.QueryRow(ctx, `SELECT ino FROM unreal_inodes WHERE path = ? AND dir = ?`, full, boolInt(dir)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		if err := allocInode(ctx, c.db, full, dir); err != nil {
			return 0, fmt.Errorf("inode of %q: %w", full, err)
		}
		err = c.q.QueryRow(ctx, `SELECT ino FROM unreal_inodes WHERE path = ? AND dir = ?`, full, boolInt(dir)).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("inode of %q: %w", full, err)
	}
	return uint64(n), nil
}

// dirent is one name in a directory listing, with what a LOOKUP of it
// answers: for a directory its mtime, for a file the size and mtime of the
// served version. A READDIRPLUS answers the lookups from it (dirhandle.go).
type dirent struct {
	name  string
	dir   bool
	ino   uint64
	size  int64 // of the file
	mtime int64 // Unix ns: of the directory, or of the file's served version
}

// list returns the shown names of directory full, sorted, with their
// attributes, in two queries (directories, files). A name that is both a
// directory (some peer has files below it) and a file (another peer has a
// file there) is shown as the directory.
func (c *Cache) list(ctx context.Context, full string) ([]dirent, error) {
	if !c.visible(full) {
		return nil, errNotFound
	}
	byName := make(map[string]int) // index in out
	var out []dirent
	rows, err := c.q.Query(ctx, `SELECT d.path, d.name, d.mtime, i.ino FROM unreal_dirs d
		LEFT JOIN unreal_inodes i ON i.path = d.path AND i.dir = 1 WHERE d.parent = ?`, full)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", full, err)
	}
	for rows.Next() {
		var p, name string
		var mt int64
		var ino sql.NullInt64
		if err := rows.Scan(&p, &name, &mt, &ino); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list %q: %w", full, err)
		}
		if c.visible(p) {
			byName[name] = len(out)
			out = append(out, dirent{name: name, dir: true, ino: uint64(ino.Int64), mtime: mt})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %q: %w", full, err)
	}
	// The served version of each name comes first (same order as qServed).
	rows, err = c.q.Query(ctx, `SELECT e.arena, e.name, e.size, e.mtime, i.ino FROM unreal_entries e
		LEFT JOIN unreal_inodes i ON i.path = e.dir || '/' || e.name AND i.dir = 0 WHERE e.dir = ?
		ORDER BY e.name, e.mtime DESC, e.peer ASC`, full)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", full, err)
	}
	for rows.Next() {
		var arena, name string
		var size, mt int64
		var ino sql.NullInt64
		if err := rows.Scan(&arena, &name, &size, &mt, &ino); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list %q: %w", full, err)
		}
		if _, seen := byName[name]; !seen && c.arenaSet[arena] {
			byName[name] = len(out)
			out = append(out, dirent{name: name, ino: uint64(ino.Int64), size: size, mtime: mt})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %q: %w", full, err)
	}
	for i := range out {
		if d := &out[i]; d.ino == 0 {
			n, err := c.ino(ctx, joinFull(full, d.name), d.dir, sql.NullInt64{})
			if err != nil {
				return nil, err
			}
			d.ino = n
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// peersOf returns the peers that report blob b at (arena, path), sorted.
func (c *Cache) peersOf(ctx context.Context, arena, path string, b blob.Hash) ([]string, error) {
	rows, err := c.q.Query(ctx, `SELECT peer FROM unreal_entries WHERE arena = ? AND path = ? AND blob = ? ORDER BY peer`, arena, path, b[:])
	if err != nil {
		return nil, fmt.Errorf("peers of %s/%s: %w", arena, path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("peers of %s/%s: %w", arena, path, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("peers of %s/%s: %w", arena, path, err)
	}
	return out, nil
}

// Count returns how many entries (one per peer and path) the cache holds.
func (c *Cache) Count(ctx context.Context) (uint64, error) {
	var n int64
	if err := c.q.QueryRow(ctx, `SELECT count(*) FROM unreal_entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unreal entries: %w", err)
	}
	return uint64(n), nil
}

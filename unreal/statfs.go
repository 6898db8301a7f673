package unreal

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// statfsBlock is the block size statfs reports.
const statfsBlock = 4096

// statfsMaxAge is how long the counts statfs reports are reused: they take
// a scan of the entries, and df does not need them exact.
const statfsMaxAge = 10 * time.Second

var (
	_ fs.NodeStatfser = (*dirNode)(nil)
	_ fs.NodeStatfser = (*fileNode)(nil)
)

func (n *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return n.s.statfs(ctx, out)
}

func (n *fileNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return n.s.statfs(ctx, out)
}

// statfs answers statfs(2): a read-only filesystem as large as the content
// it shows (blocks and files used, the served version of each path once,
// none free), names up to 255 bytes.
// The kernel adds ST_RDONLY from the mount flags.
func (s *Server) statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	if time.Since(s.statAt) > statfsMaxAge {
		var files, hidden int64
		var bytes, hiddenBytes float64
		// One row per path, of its newest version (SQLite takes a bare
		// column from the row that max() chose): a file several peers
		// report is one file. A tie of mtimes takes either size.
		err := s.cache.db.QueryRowContext(meta(ctx), `SELECT count(*), total(size) FROM
			(SELECT size, max(mtime) FROM unreal_entries GROUP BY arena, path)`).Scan(&files, &bytes)
		if err == nil {
			// Less the files a directory of the same path hides (the
			// directory wins: lookups and listings show it), counted the
			// same way; found from the directories' side (CROSS JOIN keeps
			// that order), one index look-up per directory, not per file.
			err = s.cache.db.QueryRowContext(meta(ctx), `SELECT count(*), total(size) FROM
				(SELECT e.size, max(e.mtime) FROM unreal_dirs d
				CROSS JOIN unreal_entries e ON e.dir = d.parent AND e.name = d.name
				GROUP BY e.arena, e.path)`).Scan(&hidden, &hiddenBytes)
		}
		if err != nil {
			return s.errno("statfs", "", fmt.Errorf("count entries: %w", err))
		}
		files, bytes = max(files-hidden, 0), max(bytes-hiddenBytes, 0)
		s.statFiles, s.statBlocks = uint64(files), uint64(bytes+statfsBlock-1)/statfsBlock
		s.statAt = time.Now()
	}
	*out = fuse.StatfsOut{
		Blocks:  s.statBlocks,
		Files:   s.statFiles,
		Bsize:   statfsBlock,
		Frsize:  statfsBlock,
		NameLen: 255,
	}
	return 0
}

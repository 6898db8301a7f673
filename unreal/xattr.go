package unreal

import (
	"context"
	"strings"
	"syscall"

	"github.com/realsync/real/tree"
)

// The read-only extended attributes of a file.
const (
	xattrBlob  = "user.real.blob"  // hex BLAKE3-256 of the served version
	xattrPeers = "user.real.peers" // comma-separated peers holding that blob
)

const xattrList = xattrBlob + "\x00" + xattrPeers + "\x00"

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != xattrBlob && attr != xattrPeers {
		return 0, syscall.ENODATA
	}
	e, _, err := n.s.cache.fileInfo(meta(ctx), n.full)
	if err != nil {
		return 0, n.s.errno("getxattr", n.full, err)
	}
	val := e.Blob.String()
	if attr == xattrPeers {
		arena, rel, _ := tree.Split(n.s.cache.arenas, n.full)
		peers, err := n.s.cache.peersOf(meta(ctx), arena, rel, e.Blob)
		if err != nil {
			return 0, n.s.errno("getxattr", n.full, err)
		}
		val = strings.Join(peers, ",")
	}
	return xattrOut(val, dest)
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return xattrOut(xattrList, dest)
}

func (n *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENODATA
}

func (n *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}

// xattrOut copies val to dest, or answers ERANGE with the size needed.
func xattrOut(val string, dest []byte) (uint32, syscall.Errno) {
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

package unreal

import (
	"path/filepath"
	"syscall"
	"testing"
)

// A remote file in the merged view advertises the largest kernel read as
// st_blksize, so cat and cp read it in 1 MiB requests (each one FUSE round
// trip, the files being FOPEN_DIRECT_IO) instead of 128 KiB ones.
func TestMergedViewBlksizeIsLargestRead(t *testing.T) {
	_, _, o := setupOverlay(t)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(o.merged, "docs", "remote", "seed.txt"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blksize != maxRead {
		t.Fatalf("st_blksize %d, want %d", st.Blksize, maxRead)
	}
}

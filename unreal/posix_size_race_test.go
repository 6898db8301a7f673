//go:build race

package unreal

// largeDirEntries is smaller under the race detector, which makes every
// Apply and FUSE request ~10 times slower; 2k entries still take many
// getdents pages (with 500-byte buffers).
const largeDirEntries = 2_000

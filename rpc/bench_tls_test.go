package rpc

import (
	"crypto/tls"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
)

// benchSize is the content of the 1 GiB throughput benchmarks.
const benchSize = 1 << 30

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU seconds per GiB moved since start:
// less sensitive than MB/s to other work on a shared machine.
func reportCPU(b *testing.B, start time.Duration, bytes int64) {
	b.ReportMetric((cpuTime(b)-start).Seconds()/(float64(bytes)/(1<<30)), "cpu-s/GiB")
}

// BenchmarkStoreRead1GiB reads a 1 GiB in-memory content over loopback TLS
// with ReadAt in 4 MiB calls (what the Unreal does with its read-ahead).
func BenchmarkStoreRead1GiB(b *testing.B) {
	c, h := bigContent(b)
	ctx := ctxT(b)
	buf := make([]byte, 4<<20)
	b.SetBytes(benchSize)
	b.ResetTimer()
	start, moved := cpuTime(b), int64(0)
	for b.Loop() {
		moved += benchSize
		for off := int64(0); off < benchSize; off += int64(len(buf)) {
			if _, err := c.ReadAt(ctx, "big", "content", h, buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, start, moved)
}

// bigContent serves benchSize bytes as big/content and returns a client
// of that server and the blob to ask for.
func bigContent(b *testing.B) (*Client, blob.Hash) {
	f := newFixture(b)
	c := f.client(b)
	data := make([]byte, benchSize)
	copy(data, randomBytes(1<<20))
	f.store.files["big/content"] = data
	f.store.sums = map[string]blob.Hash{"big/content": {1}} // skip hashing 1 GiB: the reader does not verify here
	return c, blob.Hash{1}
}

// BenchmarkStoreRead1GiBOneStream is BenchmarkStoreRead1GiB with the whole
// file asked for in one ReadAt: one Read stream of 256 KiB messages, no
// round trip per 4 MiB.
func BenchmarkStoreRead1GiBOneStream(b *testing.B) {
	c, h := bigContent(b)
	ctx := ctxT(b)
	buf := make([]byte, benchSize)
	b.SetBytes(benchSize)
	b.ResetTimer()
	start, moved := cpuTime(b), int64(0)
	for b.Loop() {
		moved += benchSize
		if n, err := c.ReadAt(ctx, "big", "content", h, buf, 0); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
	}
	reportCPU(b, start, moved)
}

// BenchmarkPlainTLSCopy1GiB is the yardstick: the same bytes through one
// TLS 1.3 connection on loopback, in the same process, 4 MiB writes.
func BenchmarkPlainTLSCopy1GiB(b *testing.B) {
	key := newKey(b)
	cert, err := selfSigned(key)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, benchSize)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(conn net.Conn) {
				defer conn.Close()
				for off := 0; off < benchSize; off += 4 << 20 {
					if _, err := conn.Write(data[off : off+4<<20]); err != nil {
						return
					}
				}
			}(conn)
		}
	}()
	buf := make([]byte, 4<<20)
	b.SetBytes(benchSize)
	b.ResetTimer()
	start, moved := cpuTime(b), int64(0)
	for b.Loop() {
		moved += benchSize
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true})
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{conn}, buf)
		conn.Close()
		if err != nil || n != benchSize {
			b.Fatalf("copied %d bytes: %v", n, err)
		}
	}
	reportCPU(b, start, moved)
}

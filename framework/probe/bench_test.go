package probe

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The per-call timing must cost < 1% of throughput against an untimed
// sendfile loop. Compare ns/op (or MB/s) of the Timed and Untimed pairs:
//
//	go test -run XXX -bench . -count 10 ./framework/probe | benchstat -
func BenchmarkSendfile16MiBTimed(b *testing.B)   { benchCopy(b, 16<<20, true) }
func BenchmarkSendfile16MiBUntimed(b *testing.B) { benchCopy(b, 16<<20, false) }
func BenchmarkSendfile64KiBTimed(b *testing.B)   { benchCopy(b, 64<<10, true) }
func BenchmarkSendfile64KiBUntimed(b *testing.B) { benchCopy(b, 64<<10, false) }

// BenchmarkClockPair is the cost the timing adds per call: two monotonic
// clock reads and one store into a preallocated sample slice (as copyLoop).
func BenchmarkClockPair(b *testing.B) {
	calls := make([]Call, 1024)
	i := 0
	for b.Loop() {
		t0 := time.Now()
		d := time.Since(t0)
		calls[i&1023] = Call{Bytes: 1, Ns: d.Nanoseconds()}
		i++
	}
}

func benchCopy(b *testing.B, chunk int64, timed bool) {
	const size = 64 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	if _, err := writeRandomFile(b.Context(), src, size); err != nil {
		b.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(dir, "dst"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	b.SetBytes(size)
	for b.Loop() {
		if _, err := in.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := out.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if timed {
			if _, _, err := copyLoop(MethodSendfile, int(in.Fd()), int(out.Fd()), size, chunk); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for done := int64(0); done < size; {
			n, err := unix.Sendfile(int(out.Fd()), int(in.Fd()), nil, int(min(chunk, size-done)))
			if err != nil {
				b.Fatal(err)
			}
			done += int64(n)
		}
	}
}

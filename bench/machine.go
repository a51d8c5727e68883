package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// machineFacts describes the machine a run measured.
type machineFacts struct {
	CPU        string
	CPUs       int
	Memory     int64
	Kernel     string
	FileSystem string
	GoVersion  string
}

// limitRecordBytes is the payload of one W1 or W3 record (16-byte key,
// 100 B value), which the durable-batch and cold-read limits are sized by.
const limitRecordBytes = keySize + 100

// machineLimits are what the hardware allows, measured in the same run as
// the systems, as medians over scale.LimitRounds rounds.
type machineLimits struct {
	MemcpyMBps float64 // copying between two 64 MiB buffers
	WriteMBps  float64 // sequential 1 MiB writes into a new file, no fsync
	FsyncP50   float64 // µs: append 100 bytes to a file, then fdatasync it
	FsyncP99   float64
	// DurableBatchRate is records/s when each batch of scale.Batch
	// records is one bare write of its payload (key and 100 B value per
	// record) appended to a new file, then fdatasync: the disk's part of W3.
	DurableBatchRate float64
	// ColdReadMBps is sequential 1 MiB reads of a file of W1's payload
	// size that is not in the page cache: the disk's part of W4cold.
	ColdReadMBps float64
}

func describeMachine(dir string) machineFacts {
	m := machineFacts{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), CPU: "unknown CPU"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(fields[1], 10, 64)
				m.Memory = kb << 10
			}
		}
		f.Close()
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	m.FileSystem = fileSystemName(dir)
	return m
}

func fileSystemName(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown file system"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("file system 0x%x", st.Type)
}

func measureLimits(root string, sc scale) (machineLimits, error) {
	var lim machineLimits
	var memcpy, write, p50, p99, batch, cold []float64
	for range sc.LimitRounds {
		memcpy = append(memcpy, measureMemcpy())
		w, err := measureWrite(root, sc.LimitBytes)
		if err != nil {
			return lim, err
		}
		write = append(write, w)
		a, b, err := measureFsync(root, sc.LatencyOps)
		if err != nil {
			return lim, err
		}
		p50, p99 = append(p50, a), append(p99, b)
		r, err := measureDurableBatches(root, sc)
		if err != nil {
			return lim, err
		}
		batch = append(batch, r)
		c, err := measureColdRead(root, int64(sc.Records)*limitRecordBytes)
		if err != nil {
			return lim, err
		}
		cold = append(cold, c)
	}
	lim.MemcpyMBps, lim.WriteMBps = median(memcpy), median(write)
	lim.FsyncP50, lim.FsyncP99 = median(p50), median(p99)
	lim.DurableBatchRate, lim.ColdReadMBps = median(batch), median(cold)
	return lim, nil
}

// measureDurableBatches appends the payload of W3's batches to a new file,
// one write and one fdatasync per batch, as a log without any format would,
// and returns the records/s that gives. Half of W3's batches are written:
// enough for a stable mean, at half the time.
func measureDurableBatches(root string, sc scale) (float64, error) {
	f, buf, done, err := scratchFile(root, "limit-batches", sc.Batch*limitRecordBytes)
	if err != nil {
		return 0, err
	}
	defer done()
	batches := max(sc.Records/sc.Batch/2, 1)
	start := time.Now()
	for range batches {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
	}
	return float64(batches*sc.Batch) / time.Since(start).Seconds(), nil
}

// measureColdRead writes size bytes into a new file, drops the file from
// the page cache, and reads it back with sequential 1 MiB reads, timed.
func measureColdRead(root string, size int64) (float64, error) {
	f, buf, done, err := scratchFile(root, "limit-read", 1<<20)
	if err != nil {
		return 0, err
	}
	defer done()
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			return 0, err
		}
	}
	if err := unix.Fsync(int(f.Fd())); err != nil {
		return 0, err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return 0, err
	}
	start := time.Now()
	var got int64
	for got < size {
		n, err := f.ReadAt(buf, got)
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return float64(got) / time.Since(start).Seconds() / 1e6, nil
}

// measureMemcpy copies between two 64 MiB buffers for about half a second.
func measureMemcpy() float64 {
	const size = 64 << 20
	src, dst := make([]byte, size), make([]byte, size)
	rand.Read(src)
	copy(dst, src) // fault the pages in
	var n int64
	start := time.Now()
	for time.Since(start) < 500*time.Millisecond {
		copy(dst, src)
		n += size
	}
	return float64(n) / time.Since(start).Seconds() / 1e6
}

// measureWrite writes volume bytes of random data into a new file in 1 MiB
// writes, without fsync, then removes the file.
func measureWrite(root string, volume int64) (float64, error) {
	f, buf, done, err := scratchFile(root, "limit-write", 1<<20)
	if err != nil {
		return 0, err
	}
	defer done()
	start := time.Now()
	for n := int64(0); n < volume; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
	}
	return float64(volume) / time.Since(start).Seconds() / 1e6, nil
}

// scratchFile creates the file name under root for a limit measurement,
// with n random bytes to write into it; done closes and removes the file.
func scratchFile(root, name string, n int) (f *os.File, buf []byte, done func(), err error) {
	f, err = os.Create(filepath.Join(root, name))
	if err != nil {
		return nil, nil, nil, err
	}
	buf = make([]byte, n)
	rand.Read(buf)
	return f, buf, func() { f.Close(); os.Remove(f.Name()) }, nil
}

// measureFsync times ops bare durable appends (see fsyncProbe).
func measureFsync(root string, ops int) (p50, p99 float64, err error) {
	probe, err := newFsyncProbe(filepath.Join(root, "limit-fsync"))
	if err != nil {
		return 0, 0, err
	}
	defer probe.close()
	lat := make([]time.Duration, 0, ops)
	for range ops {
		d, err := probe.once()
		if err != nil {
			return 0, 0, err
		}
		lat = append(lat, d)
	}
	p50, p99 = percentiles(lat)
	return p50, p99, nil
}

// fsyncProbe measures the bare cost of one durable append: 100 bytes
// appended to a file of its own, then fdatasync.
type fsyncProbe struct {
	f   *os.File
	buf []byte
}

func newFsyncProbe(path string) (*fsyncProbe, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &fsyncProbe{f: f, buf: make([]byte, 100)}, nil
}

// once appends and fdatasyncs once, and returns how long that took.
func (p *fsyncProbe) once() (time.Duration, error) {
	t0 := time.Now()
	if _, err := p.f.Write(p.buf); err != nil {
		return 0, err
	}
	if err := unix.Fdatasync(int(p.f.Fd())); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// close closes and removes the probe's file.
func (p *fsyncProbe) close() error {
	return errors.Join(p.f.Close(), os.Remove(p.f.Name()))
}

// evictFromCache writes the files under dir back and drops them from the
// page cache, for the cold-cache read runs.
func evictFromCache(dir string) error {
	return forEachFile(dir, func(fd int) error {
		if err := unix.Fsync(fd); err != nil {
			return err
		}
		return unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
	})
}

// writeBack fsyncs the files under dir. A write run's data is written back
// before the read runs over it, so that they do not share the CPUs and the
// disk with the kernel writing it back: measured, a read of W1's data
// right after W1 took 44 ms instead of 28.
func writeBack(dir string) error { return forEachFile(dir, unix.Fsync) }

// forEachFile calls fn with a read-only descriptor of each regular file
// under dir.
func forEachFile(dir string, fn func(fd int) error) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return fn(int(f.Fd()))
	})
}

// residentFraction returns the fraction of the pages of the files under dir
// that are in the page cache.
func residentFraction(dir string) float64 {
	page := int64(os.Getpagesize())
	var resident, total int64
	// A file that cannot be measured is left out; the figure is a check.
	_ = forEachFile(dir, func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Size == 0 {
			return nil
		}
		data, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil
		}
		defer unix.Munmap(data)
		vec := make([]byte, (st.Size+page-1)/page)
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			return nil
		}
		for _, v := range vec {
			resident += int64(v & 1)
		}
		total += int64(len(vec))
		return nil
	})
	if total == 0 {
		return 0
	}
	return float64(resident) / float64(total)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

package chartstest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// Entry is one entry of a hand-made archive.
type Entry struct {
	Name string
	Data string
	// Link makes the entry a symlink to Link; Type overrides the entry type.
	Link string
	Type byte
	// Size and Write, when Write is set, declare a size and stream the
	// content (which may stop short: the archive is then cut there).
	Size  int64
	Write func(io.Writer)
}

// Archive builds a gzipped tar of entries, as an attacker might: any
// names, types and sizes.
func Archive(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := tar.Header{Name: e.Name, Mode: 0o644, Typeflag: e.Type, Linkname: e.Link, Size: e.Size}
		switch {
		case e.Link != "" && h.Typeflag == 0:
			h.Typeflag = tar.TypeSymlink
		case h.Typeflag == 0:
			h.Typeflag = tar.TypeReg
		}
		if e.Write == nil && h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.Write != nil {
			e.Write(tw)
		} else if _, err := io.WriteString(tw, e.Data); err != nil {
			t.Fatal(err)
		}
	}
	_ = tw.Close() // fails for a cut archive, whose last entry is short
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Zeros streams n zero bytes.
func Zeros(n int64) func(io.Writer) {
	return func(w io.Writer) { _, _ = io.CopyN(w, zeroReader{}, n) }
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

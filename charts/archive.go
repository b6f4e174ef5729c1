package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrBadArchive marks a chart archive refused as unsafe or malformed.
var ErrBadArchive = errors.New("bad chart archive")

// Limits bound what one untrusted chart archive may unpack to. Zero fields
// take the defaults.
type Limits struct {
	MaxArchiveBytes int64 // the compressed archive; default 20 MiB
	MaxBytes        int64 // everything unpacked; default 100 MiB (Helm's own cap)
	MaxFileBytes    int64 // one unpacked file; default 5 MiB (Helm's own cap)
	MaxFiles        int   // default 10,000
}

func (l Limits) withDefaults() Limits {
	if l.MaxArchiveBytes <= 0 {
		l.MaxArchiveBytes = 20 << 20
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 100 << 20
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = 5 << 20
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = 10000
	}
	return l
}

// File is one file of a chart, its path relative to the chart's directory.
type File struct {
	Name string
	Data []byte
}

// Unpack reads a chart archive (a gzipped tar whose entries sit in one
// top-level directory, as helm package writes it) into its files. It is
// written by hand rather than with Helm's loader because Helm's caps are
// process-wide variables and it turns symlinks into empty files without a
// word; here every entry that is not a plain file or directory, every path
// that is absolute or leaves the chart, and every cap overrun is an error
// naming the entry, and reading stops at the first.
func Unpack(name string, data []byte, lim Limits) ([]File, error) {
	lim = lim.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", name, ErrBadArchive, fmt.Sprintf(format, args...))
	}
	if int64(len(data)) > lim.MaxArchiveBytes {
		return nil, bad("%d bytes is over the %d-byte limit", len(data), lim.MaxArchiveBytes)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, bad("not gzipped: %v", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var files []File
	var total int64
	top := ""
	for entries := 0; ; entries++ {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad("%v", err)
		}
		if entries >= lim.MaxFiles {
			return nil, bad("more than %d entries", lim.MaxFiles)
		}
		rel, dir, err := entryPath(hd, &top)
		if err != nil {
			return nil, bad("%s", err)
		}
		if dir || rel == "" {
			continue
		}
		if hd.Size > lim.MaxFileBytes {
			return nil, bad("%s: %d bytes is over the %d-byte file limit", hd.Name, hd.Size, lim.MaxFileBytes)
		}
		if total+hd.Size > lim.MaxBytes {
			return nil, bad("unpacks to more than %d bytes", lim.MaxBytes)
		}
		buf := make([]byte, 0, hd.Size)
		w := bytes.NewBuffer(buf)
		n, err := io.Copy(w, io.LimitReader(tr, hd.Size+1))
		if err != nil {
			return nil, bad("%s: %v", hd.Name, err)
		}
		if n != hd.Size {
			return nil, bad("%s: size %d in its header, %d in the archive", hd.Name, hd.Size, n)
		}
		total += n
		files = append(files, File{Name: rel, Data: bytes.TrimPrefix(w.Bytes(), []byte("\xef\xbb\xbf"))})
	}
	if len(files) == 0 {
		return nil, bad("no files")
	}
	return files, nil
}

// entryPath checks one tar entry and returns its path inside the chart
// (top is the archive's top-level directory, set by the first entry).
func entryPath(hd *tar.Header, top *string) (rel string, dir bool, err error) {
	switch hd.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeXGlobalHeader, tar.TypeXHeader:
		return "", true, nil
	case tar.TypeSymlink, tar.TypeLink:
		return "", false, fmt.Errorf("%s: links are not allowed (to %q)", hd.Name, hd.Linkname)
	default:
		return "", false, fmt.Errorf("%s: entry type %q is not a file or a directory", hd.Name, hd.Typeflag)
	}
	name := strings.ReplaceAll(hd.Name, "\\", "/")
	if path.IsAbs(name) || (len(name) > 1 && name[1] == ':') {
		return "", false, fmt.Errorf("%s: absolute paths are not allowed", hd.Name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", false, fmt.Errorf("%s: the path leaves the archive", hd.Name)
	}
	first, rest, _ := strings.Cut(clean, "/")
	if *top == "" {
		*top = first
	}
	if first != *top {
		return "", false, fmt.Errorf("%s: outside the chart's directory %s/", hd.Name, *top)
	}
	return rest, hd.Typeflag == tar.TypeDir, nil
}

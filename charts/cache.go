package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Cache stores chart archives by digest, the last index of each repository
// with its ETag, and what each exact version resolved to, under one
// directory shared by every App. Files are written to a temporary name and
// renamed into place, so concurrent readers (and other processes) see whole
// files or none; archives are verified against their digest when read.
// Archives beyond MaxBytes are evicted least recently used first.
type Cache struct {
	dir      string
	maxBytes int64
	mu       sync.Mutex // serialises eviction
}

// NewCache opens (creating) a cache in dir; maxBytes <= 0 means 1 GiB.
func NewCache(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	for _, sub := range []string{"blobs", "index", "pins"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("chart cache: %w", err)
		}
	}
	return &Cache{dir: dir, maxBytes: maxBytes}, nil
}

// blobPath is where the archive of digest ("sha256:<hex>") lives.
func (c *Cache) blobPath(digest string) (string, error) {
	hexs, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexs) != 64 || strings.Trim(hexs, "0123456789abcdef") != "" {
		return "", fmt.Errorf("digest %q is not sha256:<64 hex digits>", digest)
	}
	return filepath.Join(c.dir, "blobs", hexs+".tgz"), nil
}

// Archive returns the cached archive of digest; ok is false when it is not
// cached (or no longer matches its digest, and was dropped).
func (c *Cache) Archive(digest string) (data []byte, ok bool) {
	p, err := c.blobPath(digest)
	if err != nil {
		return nil, false
	}
	data, err = os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if DigestOf(data) != digest {
		_ = os.Remove(p)
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // recently used
	return data, true
}

// PutArchive stores data, which must match digest, and evicts the least
// recently used archives beyond the cache's size.
func (c *Cache) PutArchive(digest string, data []byte) error {
	if got := DigestOf(data); got != digest {
		return fmt.Errorf("archive digest %s, want %s", got, digest)
	}
	p, err := c.blobPath(digest)
	if err != nil {
		return err
	}
	if err := writeAtomic(p, data); err != nil {
		return err
	}
	c.evict(p)
	return nil
}

// evict removes archives, oldest use first, until the total fits; keep is
// never removed (it was just written).
func (c *Cache) evict(keep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	type blob struct {
		path string
		size int64
		used time.Time
	}
	var blobs []blob
	var total int64
	_ = filepath.WalkDir(filepath.Join(c.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tgz") {
			return nil
		}
		if info, err := d.Info(); err == nil {
			blobs = append(blobs, blob{p, info.Size(), info.ModTime()})
			total += info.Size()
		}
		return nil
	})
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].used.Before(blobs[j].used) })
	for _, b := range blobs {
		if total <= c.maxBytes {
			return
		}
		if b.path != keep && os.Remove(b.path) == nil {
			total -= b.size
		}
	}
}

// cachedIndex is a repository's index as last fetched.
type cachedIndex struct {
	ETag string `json:"etag"`
	Body []byte `json:"body"`
}

func (c *Cache) indexPath(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(c.dir, "index", hex.EncodeToString(sum[:16])+".json")
}

func (c *Cache) index(url string) (cachedIndex, bool) {
	var ci cachedIndex
	data, err := os.ReadFile(c.indexPath(url))
	if err != nil || json.Unmarshal(data, &ci) != nil {
		return cachedIndex{}, false
	}
	return ci, true
}

func (c *Cache) putIndex(url string, ci cachedIndex) error {
	data, err := json.Marshal(ci)
	if err != nil {
		return err
	}
	return writeAtomic(c.indexPath(url), data)
}

// pinPath keys what an exact version resolved to, with which credentials
// (credKey).
func (c *Cache) pinPath(ref Ref, cred string) string {
	sum := sha256.Sum256([]byte(ref.RepoURL + "\x00" + ref.Name + "\x00" + ref.Version + "\x00" + cred))
	return filepath.Join(c.dir, "pins", hex.EncodeToString(sum[:16])+".json")
}

func (c *Cache) pin(ref Ref, cred string) (Resolved, bool) {
	var r Resolved
	data, err := os.ReadFile(c.pinPath(ref, cred))
	if err != nil || json.Unmarshal(data, &r) != nil || r.Ref != ref {
		return Resolved{}, false
	}
	return r, true
}

func (c *Cache) putPin(r Resolved, cred string) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeAtomic(c.pinPath(r.Ref, cred), data)
}

// writeAtomic writes data to a temporary file beside p and renames it over p.
func writeAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}

// DigestOf is the "sha256:<hex>" digest of data.
func DigestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

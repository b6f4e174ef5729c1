package render

import (
	"crypto/sha256"
	gosync "sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"sigs.k8s.io/yaml"
)

// Cache keeps the JSON form of YAML documents across renders, keyed by a
// hash of each document. Converting YAML is most of the time a plain or Helm
// render takes (go-yaml builds a node tree, then JSON is written and read
// again), and between two commits nearly every document is the same: a
// controller that renders again after one manifest changed converts that
// one. The JSON form is kept rather than the decoded object because it is a
// fraction of its size and decoding it is cheap; each render decodes its
// own copy, so nothing a render changes leaks into the next.
//
// The bound is in bytes (least recently used first out); a document larger
// than a sixteenth of it is never kept. A nil *Cache caches nothing. It is
// safe for concurrent use.
type Cache struct {
	mu       gosync.Mutex
	docs     *simplelru.LRU[[sha256.Size]byte, []byte]
	size     int64
	maxBytes int64
}

// NewCache returns a cache of at most maxBytes of JSON.
func NewCache(maxBytes int64) *Cache {
	c := &Cache{maxBytes: maxBytes}
	// The entry count is bounded by bytes below; the LRU's own bound only
	// has to be out of the way.
	c.docs, _ = simplelru.NewLRU(1<<30, func(_ [sha256.Size]byte, js []byte) { c.size -= int64(len(js)) })
	return c
}

// yamlToJSON converts one YAML document, from the cache when it was
// converted before. Errors are not cached.
func (c *Cache) yamlToJSON(data []byte) ([]byte, error) {
	if c == nil {
		return yaml.YAMLToJSONStrict(data)
	}
	key := sha256.Sum256(data)
	c.mu.Lock()
	js, ok := c.docs.Get(key)
	c.mu.Unlock()
	if ok {
		return js, nil
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil || int64(len(js)) > c.maxBytes/16 {
		return js, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.docs.Contains(key) {
		c.docs.Add(key, js)
		c.size += int64(len(js))
		for c.size > c.maxBytes {
			c.docs.RemoveOldest()
		}
	}
	return js, nil
}

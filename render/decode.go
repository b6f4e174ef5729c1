package render

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// document is one YAML document of a stream and the line it starts on.
type document struct {
	index int // 0-based among non-empty documents
	line  int // 1-based line of the document's first line in the file
	data  []byte
}

// splitDocuments splits a YAML stream at "---" separator lines. It is written
// here rather than taken from apimachinery's YAMLReader because errors must
// name the line in the file, so each document has to carry its offset.
// Empty documents (only blanks and comments) are dropped.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, line := 1, 0
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, document{index: len(docs), line: start, data: bytes.Clone(cur.Bytes())})
		}
		cur.Reset()
	}
	for len(data) > 0 {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i+1], data[i+1:]
		} else {
			l, data = data, nil
		}
		line++
		if isSeparator(l) {
			flush()
			start = line + 1
			continue
		}
		if line == 1 {
			l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		cur.Write(l)
	}
	flush()
	return docs
}

// isSeparator reports whether a line is a document separator: "---" alone,
// or followed by whitespace or a comment.
func isSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	rest := bytes.TrimSpace(l[3:])
	return len(rest) == 0 || rest[0] == '#'
}

func hasContent(b []byte) bool {
	for _, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return true
		}
	}
	// "..." ends a document and may stand alone.
	return false
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// decodeDocument turns one document into objects: a List is expanded into
// its items. Errors carry file:line with the line counted in the file.
// YAML is decoded by sigs.k8s.io/yaml (go-yaml) in strict mode: it refuses
// duplicate keys and excessive alias expansion (the "billion laughs" bomb).
func decodeDocument(file string, d document, cache *Cache) ([]*unstructured.Unstructured, error) {
	js, err := cache.yamlToJSON(d.data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", fileLine(file, d, err), trimYAMLPrefix(err))
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil
	}
	// apimachinery's JSON decoding yields int64 and float64, the number
	// types unstructured objects (and their DeepCopy) require.
	var obj map[string]any
	if err := utiljson.Unmarshal(js, &obj); err != nil {
		return nil, fmt.Errorf("%s:%d: document %d is not a mapping (an object with apiVersion, kind and metadata)", file, d.line, d.index)
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.IsList() {
		list, err := u.ToList()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s list: %w", file, d.line, u.GetKind(), err)
		}
		out := make([]*unstructured.Unstructured, 0, len(list.Items))
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		return out, nil
	}
	return []*unstructured.Unstructured{u}, nil
}

// fileLine names the line of a YAML error in the whole file.
func fileLine(file string, d document, err error) string {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			return fmt.Sprintf("%s:%d", file, d.line+n-1)
		}
	}
	return fmt.Sprintf("%s:%d", file, d.line)
}

var yamlPrefix = regexp.MustCompile(`^(error converting YAML to JSON: )?yaml: (line \d+: )?`)

// duplicateKey is go-yaml's strict-mode error for a key given twice.
var duplicateKey = regexp.MustCompile(`key ("(?:[^"\\]|\\.)*") already set in map`)

func trimYAMLPrefix(err error) string {
	if m := duplicateKey.FindStringSubmatch(err.Error()); m != nil {
		return "duplicate key " + m[1] + " (YAML would keep only the last)"
	}
	return "invalid YAML: " + yamlPrefix.ReplaceAllString(err.Error(), "")
}

// sourcedDoc is a document and the file (or template) it came from.
type sourcedDoc struct {
	source string
	doc    document
}

// decodeAll decodes documents in parallel (one worker per CPU; documents are
// independent and decoding large CRDs dominates a render) and returns the
// objects in document order, or the first error in document order.
func decodeAll(docs []sourcedDoc, cache *Cache) ([][]*unstructured.Unstructured, error) {
	out := make([][]*unstructured.Unstructured, len(docs))
	errs := make([]error, len(docs))
	next := make(chan int)
	var wg gosync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(docs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = decodeDocument(docs[i].source, docs[i].doc, cache)
			}
		}()
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ParseObject decodes one YAML or JSON document into an object, with the
// number types unstructured objects require. For callers (tests, mostly)
// that hold a single manifest.
func ParseObject(data []byte) (*unstructured.Unstructured, error) {
	objs, err := decodeDocument("object", document{line: 1, data: data}, nil)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("object: %d objects, want one", len(objs))
	}
	return objs[0], nil
}

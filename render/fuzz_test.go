package render

import (
	"bytes"
	"testing"
)

// FuzzDecodeStream: any input splits and decodes without panicking, every
// document's line is inside the file, and decoded objects survive DeepCopy
// (which panics on number types unstructured objects do not allow).
func FuzzDecodeStream(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n",
		"a: &a [1,2]\nb: [*a,*a]\n",
		"--- # c\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"x\":1.5}}",
		"\xef\xbb\xbfkind: X\n  bad: [\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, d := range splitDocuments(data) {
			if d.line < 1 || d.line > lines {
				t.Fatalf("document %d starts at line %d of %d", d.index, d.line, lines)
			}
			objs, err := decodeDocument("f.yaml", d, nil)
			if err != nil {
				continue
			}
			for _, u := range objs {
				_ = u.DeepCopy()
			}
		}
	})
}

package render

import (
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/escape"
	"github.com/plumbhq/plumb/resource"
)

// EncodeYAML writes objects as a YAML stream, each document headed by a
// "# Source:" comment naming where it came from, like `helm template`.
func EncodeYAML(w io.Writer, objs []Object) error {
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object.Object)
		if err != nil {
			return fmt.Errorf("%s: %w", resource.RefOf(o.Object), err)
		}
		// A file name may hold a newline: escaped, it cannot start a document.
		if _, err := fmt.Fprintf(w, "---\n# Source: %s\n%s", escape.Text(o.Origin.String()), b); err != nil {
			return err
		}
	}
	return nil
}

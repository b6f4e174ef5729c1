package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/cluster"
)

// A fingerprint records what plumb applied to one object and what the API
// server made of it: a hash of the payload plumb sent (its intent), a hash
// of plumb's own server-side apply entry in the object's managedFields as the
// server returned it (what plumb owns), and the object's UID.
//
// While the intent is unchanged and the live object still carries the same
// plumb entry and UID, another apply cannot change anything: whoever changed
// a field plumb owns took that field out of plumb's entry (an Update and a
// forced Apply both move ownership), a deleted and recreated object has a new
// UID, and fields plumb does not own are not plumb's to revert. Such an
// object is unchanged with no request at all; anything else goes the exact
// way (dry-run for diff, apply for sync). Checked on kube-apiserver 1.37:
// the entry is unchanged by a no-op apply, by labels plumb does not own and
// by another manager applying the same value; it changes with kubectl scale,
// kubectl edit, a JSON patch and a forced apply of a different value
// (TestFingerprintCatchesDrift).
type fingerprint struct {
	intent, owned, uid string
}

// empty reports whether f lacks a part (it can vouch for nothing).
func (f fingerprint) empty() bool { return f.intent == "" || f.owned == "" || f.uid == "" }

// String is the form kept in the inventory: "<intent>.<owned>.<uid>".
func (f fingerprint) String() string {
	if f.empty() {
		return ""
	}
	return f.intent + "." + f.owned + "." + f.uid
}

func parseFingerprint(s string) fingerprint {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) != 3 {
		return fingerprint{}
	}
	return fingerprint{intent: parts[0], owned: parts[1], uid: parts[2]}
}

// intentHash hashes the payload plumb sends. encoding/json writes map keys
// sorted, so equal objects hash equal.
func intentHash(payload *unstructured.Unstructured) string {
	b, err := json.Marshal(payload.Object)
	if err != nil {
		return ""
	}
	return shortHash(b)
}

// ownedHash hashes plumb's Apply entry of managedFields ("" when there is
// none: plumb owns nothing there).
func ownedHash(managed []metav1.ManagedFieldsEntry) string {
	for _, m := range managed {
		if m.Manager == cluster.FieldManager && m.Operation == metav1.ManagedFieldsOperationApply && m.Subresource == "" && m.FieldsV1 != nil {
			return shortHash([]byte(m.APIVersion), []byte{0}, m.FieldsV1.Raw)
		}
	}
	return ""
}

// shortHash is the first 12 bytes of the SHA-256 of parts, in hex.
func shortHash(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// fingerprintOf is the fingerprint of live (an apply's response, or the
// live object's metadata) for a payload of the given intent.
func fingerprintOf(intent string, live metav1.Object) fingerprint {
	if live == nil {
		return fingerprint{}
	}
	return fingerprint{intent: intent, owned: ownedHash(live.GetManagedFields()), uid: string(live.GetUID())}
}

// matches reports whether live still is what plumb applied with intent.
// It runs for every object on every pass: the cheap comparisons go first.
func (f fingerprint) matches(intent string, live metav1.Object) bool {
	if f.empty() || live == nil {
		return false
	}
	return f.intent == intent && f.uid == string(live.GetUID()) && f.owned == ownedHash(live.GetManagedFields())
}

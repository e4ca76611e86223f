package peer

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// Headers of object transfers.
const (
	hdrObject  = "X-Objstore-Object"  // the Info, as a journal Put body, base64url
	hdrVersion = "X-Objstore-Version" // "<timestamp>.<origin>"
	hdrHops    = "X-Objstore-Hops"    // forwards so far; see MaxHops
	hdrFetched = "X-Objstore-Fetched" // "1": read from the backend for this request
	hdrSeq     = "X-Objstore-Seq"     // a replica's put event Seq
	hdrDirty   = "X-Objstore-Dirty"   // "1": an object not yet in the backend
)

// MaxHops is the most forwards a request may have made before it arrives:
// a node that receives a forwarded fetch serves it itself (from its disk,
// a holder or the backend) and never forwards it again, so two nodes that
// disagree about a key's owner cannot forward in a loop.
const MaxHops = 1

func setObjectHeaders(h http.Header, info core.Info, ver journal.Version) {
	e := journal.Event{Kind: journal.Put, Bucket: info.Bucket, Key: info.Key, Info: info}
	h.Set(hdrObject, base64.RawURLEncoding.EncodeToString(journal.AppendBody(nil, &e)))
	h.Set(hdrVersion, formatVersion(ver))
}

func objectHeaders(h http.Header) (core.Info, journal.Version, error) {
	b, err := base64.RawURLEncoding.DecodeString(h.Get(hdrObject))
	if err != nil {
		return core.Info{}, journal.Version{}, fmt.Errorf("%w: %s: %v", journal.ErrCorrupt, hdrObject, err)
	}
	var e journal.Event
	if err := journal.DecodeBody(b, &e); err != nil {
		return core.Info{}, journal.Version{}, err
	}
	ver, err := parseVersion(h.Get(hdrVersion))
	return e.Info, ver, err
}

func formatVersion(v journal.Version) string {
	return strconv.FormatUint(uint64(v.Time), 10) + "." + v.Origin
}

func parseVersion(s string) (journal.Version, error) {
	t, origin, ok := strings.Cut(s, ".")
	n, err := strconv.ParseUint(t, 10, 64)
	if !ok || err != nil {
		return journal.Version{}, fmt.Errorf("%w: version %q", journal.ErrCorrupt, s)
	}
	return journal.Version{Time: journal.Timestamp(n), Origin: origin}, nil
}

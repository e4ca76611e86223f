package s3api

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// listParams are the parameters common to both listing versions.
type listParams struct {
	prefix, delimiter, after string
	maxKeys                  int
}

// entry is one line of a listing: an object or a common prefix.
type entry struct {
	key    string
	prefix bool
	info   core.Info
}

// list returns one page of bucket's listing: the backend's, without the
// objects deleted through objstore, with the objects not yet uploaded.
// Objects of the node are merged only up to the backend page's last entry,
// so that pages neither skip nor repeat an entry. When truncated, the next
// page starts after next, which may lie beyond the last entry returned:
// a page whose backend entries were all deleted through objstore is empty
// but must still move on.
func (a *API) list(ctx context.Context, bucket string, p listParams) (es []entry, truncated bool, next string, err error) {
	if p.maxKeys == 0 {
		return nil, false, "", bucketErr(a.cfg.Buckets.HeadBucket(ctx, bucket))
	}
	// The dirty set is read before the backend: an object uploaded in
	// between is then in one or the other, never in neither.
	dirty := a.cfg.Node.Dirty(ctx, bucket, p.prefix)
	page, err := a.cfg.Buckets.List(ctx, bucket, backend.ListOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, StartAfter: p.after, MaxKeys: p.maxKeys,
	})
	if err != nil {
		return nil, false, "", bucketErr(err)
	}
	var bound string // the last entry of the backend page
	es = make([]entry, 0, len(page.Objects)+len(page.CommonPrefixes))
	prefixes := make(map[string]bool, len(page.CommonPrefixes))
	for _, o := range page.Objects {
		bound = max(bound, o.Key)
		if !a.cfg.Node.Deleted(bucket, o.Key) {
			es = append(es, entry{key: o.Key, info: o})
		}
	}
	for _, cp := range page.CommonPrefixes {
		bound = max(bound, cp)
		prefixes[cp] = true
		es = append(es, entry{key: cp, prefix: true})
	}
	inPage := func(k string) bool { return k > p.after && (!page.Truncated || k <= bound) }
	replaced := make(map[string]core.Info)
	for _, d := range dirty {
		if p.delimiter != "" {
			if i := strings.Index(d.Key[len(p.prefix):], p.delimiter); i >= 0 {
				cp := d.Key[:len(p.prefix)+i+len(p.delimiter)]
				if inPage(cp) && !prefixes[cp] {
					prefixes[cp] = true
					es = append(es, entry{key: cp, prefix: true})
				}
				continue
			}
		}
		if inPage(d.Key) {
			replaced[d.Key] = d
		}
	}
	for i := range es {
		if d, ok := replaced[es[i].key]; ok && !es[i].prefix {
			es[i].info = d
			delete(replaced, es[i].key)
		}
	}
	for _, d := range replaced {
		es = append(es, entry{key: d.Key, info: d})
	}
	slices.SortFunc(es, func(x, y entry) int { return strings.Compare(x.key, y.key) })
	truncated, next = page.Truncated, bound
	if len(es) > p.maxKeys {
		es, truncated = es[:p.maxKeys], true
		next = es[len(es)-1].key
	}
	return es, truncated, next, nil
}

// parseListParams reads prefix, delimiter and max-keys.
func parseListParams(q query) (listParams, error) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: 1000}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, s3err("InvalidArgument", http.StatusBadRequest, "Provided max-keys not an integer or within integer range")
		}
		p.maxKeys = min(n, 1000)
	}
	if et := q.Get("encoding-type"); et != "" && et != "url" {
		return p, s3err("InvalidArgument", http.StatusBadRequest, "Invalid Encoding Method specified in Request")
	}
	return p, nil
}

type listObject struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
	Owner        *owner `xml:",omitempty"`
}

type commonPrefix struct{ Prefix string }

type listV2Result struct {
	XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string
	Prefix                string
	Delimiter             string `xml:",omitempty"`
	MaxKeys               int
	KeyCount              int
	IsTruncated           bool
	EncodingType          string `xml:",omitempty"`
	ContinuationToken     string `xml:",omitempty"`
	NextContinuationToken string `xml:",omitempty"`
	StartAfter            string `xml:",omitempty"`
	Contents              []listObject
	CommonPrefixes        []commonPrefix
}

type listV1Result struct {
	XMLName        xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string
	Prefix         string
	Marker         string
	NextMarker     string `xml:",omitempty"`
	Delimiter      string `xml:",omitempty"`
	MaxKeys        int
	IsTruncated    bool
	EncodingType   string `xml:",omitempty"`
	Contents       []listObject
	CommonPrefixes []commonPrefix
}

// fill converts entries into Contents and CommonPrefixes, URL-encoding
// keys when asked to.
func fill(es []entry, encode, withOwner bool) ([]listObject, []commonPrefix) {
	var objs []listObject
	var cps []commonPrefix
	for _, e := range es {
		if e.prefix {
			cps = append(cps, commonPrefix{Prefix: enc(e.key, encode)})
			continue
		}
		o := listObject{
			Key: enc(e.key, encode), LastModified: e.info.ModTime.UTC().Format(timeFormat),
			ETag: `"` + e.info.ETag + `"`, Size: e.info.Size, StorageClass: "STANDARD",
		}
		if withOwner {
			o.Owner = &theOwner
		}
		objs = append(objs, o)
	}
	return objs, cps
}

// enc applies encoding-type=url: S3 encodes as a form value would be.
func enc(s string, encode bool) string {
	if !encode {
		return s
	}
	return url.QueryEscape(s)
}

func (a *API) listObjectsV2(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	token := q.Get("continuation-token")
	p.after = q.Get("start-after")
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return s3err("InvalidArgument", http.StatusBadRequest, "The continuation token provided is incorrect")
		}
		p.after = max(p.after, string(b))
	}
	es, truncated, next, err := a.list(r.Context(), rq.bucket, p)
	if err != nil {
		return err
	}
	encode := q.Get("encoding-type") == "url"
	res := listV2Result{
		Name: rq.bucket, Prefix: enc(p.prefix, encode), Delimiter: enc(p.delimiter, encode),
		MaxKeys: p.maxKeys, KeyCount: len(es), IsTruncated: truncated,
		ContinuationToken: token, StartAfter: enc(q.Get("start-after"), encode),
	}
	if encode {
		res.EncodingType = "url"
	}
	if truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	res.Contents, res.CommonPrefixes = fill(es, encode, q.Get("fetch-owner") == "true")
	return writeXML(w, res)
}

func (a *API) listObjectsV1(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	p.after = q.Get("marker")
	es, truncated, next, err := a.list(r.Context(), rq.bucket, p)
	if err != nil {
		return err
	}
	encode := q.Get("encoding-type") == "url"
	res := listV1Result{
		Name: rq.bucket, Prefix: enc(p.prefix, encode), Marker: enc(p.after, encode),
		Delimiter: enc(p.delimiter, encode), MaxKeys: p.maxKeys, IsTruncated: truncated,
	}
	if encode {
		res.EncodingType = "url"
	}
	if truncated {
		res.NextMarker = enc(next, encode)
	}
	res.Contents, res.CommonPrefixes = fill(es, encode, true)
	return writeXML(w, res)
}

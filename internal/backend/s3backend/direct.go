package s3backend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	"github.com/aws/smithy-go/encoding/httpbinding"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/objstore/objstore/internal/h1"
	"github.com/objstore/objstore/internal/sigv4"
)

// directMaxPut is the largest body a direct PutObject sends; larger ones
// go through the SDK, whose per-call cost is small next to their transfer
// and which sends them with Expect: 100-continue.
const directMaxPut = 1 << 20

// directBuffered is the largest body a direct PutObject reads into memory
// once rather than from the file for each use.
const directBuffered = 64 << 10

// direct sends the node's hot-path requests, GetObject and small
// PutObjects, as plain HTTP/1.1 requests signed with SigV4, instead of
// through the SDK's per-call middleware stack and net/http's Transport.
//
// Why: on a nearby server (loopback, or S3 from the same region for small
// objects) the stack is most of the cost of a request: an SDK PutObject of
// 4 KiB takes about four times the CPU of the same request sent this way
// (BenchmarkPut and BenchmarkPutSDK), and a miss pays it in latency. The
// requests are sent by an h1.Client, in the caller's goroutine, which
// took another 30 to 45 µs off each (BenchmarkGet, BenchmarkPut; see
// package h1), and signed by sigv4.Signer, whose canonicalization costs
// a fraction of the SDK signer's.
//
// What it keeps from the SDK: the endpoint comes from the client's own
// endpoint resolver (resolved once per bucket, with the client's region,
// path style, FIPS and dual-stack settings), the credentials from the
// same cached provider, the path escaped as the SDK escapes it, the
// transport's settings (TLS roots, dialer, timeouts, proxy), the retries
// from the same retryer (its token bucket included), and errors have the
// SDK's types (smithy.APIError, *awshttp.ResponseError), so the error
// mapping of errors.go holds for both paths. The payload is signed (its
// SHA-256) over plain HTTP and sent as UNSIGNED-PAYLOAD over HTTPS, as
// the SDK does; no optional checksums are sent or checked, as with the
// SDK set to "when required". Through a proxy (HTTP_PROXY and the rest,
// as net/http reads them) requests go by the SDK's net/http client,
// which speaks to proxies.
//
// A bucket whose endpoint needs anything else (another signing scheme or
// name or region, such as S3 Express directory buckets or access points
// in another region, or extra headers) is left to the SDK: endpointFor
// reports it and the caller falls back.
type direct struct {
	h1      *h1.Client
	tr      *http.Transport // the SDK's, for its proxy settings
	hc      aws.HTTPClient  // the SDK's, for requests through a proxy
	creds   aws.CredentialsProvider
	retryer aws.Retryer
	signer  sigv4.Signer
	region  string
	opts    s3.Options // the client's, for its endpoint resolver and settings

	endpoints sync.Map // bucket → *endpoint, nil when the SDK must be used
}

// endpoint is where a bucket's direct requests go, and how.
type endpoint struct {
	base *url.URL
	send func(*http.Request) (*http.Response, error)
}

// newDirect returns the direct path of client, or nil if its HTTP client
// is not the SDK's buildable one, whose settings the path copies.
func newDirect(client *s3.Client, retryer aws.Retryer, region string) *direct {
	opts := client.Options()
	bc, ok := opts.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return nil
	}
	tr := bc.GetTransport()
	return &direct{
		h1: h1.New(h1.Config{
			Dial:                  tr.DialContext,
			TLS:                   tr.TLSClientConfig,
			TLSHandshakeTimeout:   tr.TLSHandshakeTimeout,
			ResponseHeaderTimeout: tr.ResponseHeaderTimeout,
			MaxIdlePerHost:        tr.MaxIdleConnsPerHost,
			IdleTimeout:           tr.IdleConnTimeout,
		}),
		tr:      tr,
		hc:      bc,
		creds:   opts.Credentials,
		retryer: retryer,
		region:  region,
		opts:    opts,
	}
}

// endpointFor returns where bucket's objects are, or nil when the
// bucket's requests must go through the SDK.
func (d *direct) endpointFor(ctx context.Context, bucket string) *endpoint {
	if d == nil {
		return nil
	}
	if v, ok := d.endpoints.Load(bucket); ok {
		return v.(*endpoint)
	}
	var ep *endpoint
	if u := d.resolve(ctx, bucket); u != nil {
		ep = &endpoint{base: u, send: d.h1.Do}
		if d.tr.Proxy != nil {
			if p, err := d.tr.Proxy(&http.Request{URL: u}); err != nil || p != nil {
				ep.send = d.hc.Do
			}
		}
	}
	d.endpoints.Store(bucket, ep)
	return ep
}

func (d *direct) resolve(ctx context.Context, bucket string) *url.URL {
	if d.opts.EndpointResolverV2 == nil || d.creds == nil {
		return nil
	}
	o := d.opts
	params := s3.EndpointParameters{
		Bucket:                         aws.String(bucket),
		Region:                         aws.String(d.region),
		UseFIPS:                        aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack:                   aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
		Endpoint:                       o.BaseEndpoint,
		ForcePathStyle:                 aws.Bool(o.UsePathStyle),
		Accelerate:                     aws.Bool(o.UseAccelerate),
		DisableMultiRegionAccessPoints: aws.Bool(o.DisableMultiRegionAccessPoints),
		UseArnRegion:                   aws.Bool(o.UseARNRegion),
		DisableS3ExpressSessionAuth:    o.DisableS3ExpressSessionAuth,
	}
	ep, err := o.EndpointResolverV2.ResolveEndpoint(ctx, params)
	if err != nil || len(ep.Headers) > 0 || ep.Properties.Get("backend") != nil {
		return nil
	}
	if ep.URI.Scheme != "http" && ep.URI.Scheme != "https" || ep.URI.RawQuery != "" {
		return nil
	}
	schemes, _ := smithyauth.GetAuthOptions(&ep.Properties)
	if len(schemes) == 0 {
		return nil
	}
	s := schemes[0]
	if s.SchemeID != "sigv4" && s.SchemeID != smithyauth.SchemeIDSigV4 { // the rules name it "sigv4"
		return nil
	}
	if name, ok := smithyhttp.GetSigV4SigningName(&s.SignerProperties); ok && name != "s3" {
		return nil
	}
	if region, ok := smithyhttp.GetSigV4SigningRegion(&s.SignerProperties); ok && region != d.region {
		return nil
	}
	u := ep.URI
	return &u
}

// objectURL is the URL of key under base, escaped as the SDK escapes it.
func objectURL(base *url.URL, key string) *url.URL {
	u := *base
	if u.RawPath == "" {
		u.RawPath = httpbinding.EscapePath(u.Path, false)
	}
	u.Path = smithyhttp.JoinPath(u.Path, "/"+key)
	u.RawPath = smithyhttp.JoinPath(u.RawPath, "/"+httpbinding.EscapePath(key, false))
	return &u
}

// put sends a PutObject of size bytes of body with the headers of in,
// and returns the ETag as the server sent it.
func (d *direct) put(ctx context.Context, ep *endpoint, in *s3.PutObjectInput, expires string, body io.ReadSeeker, size int64) (string, error) {
	u := objectURL(ep.base, aws.ToString(in.Key))
	h := make(http.Header, 8+len(in.Metadata))
	h["Content-Type"] = []string{aws.ToString(in.ContentType)}
	for name, v := range map[string]*string{
		"Cache-Control":       in.CacheControl,
		"Content-Disposition": in.ContentDisposition,
		"Content-Encoding":    in.ContentEncoding,
		"Content-Language":    in.ContentLanguage,
	} {
		if v != nil {
			h[name] = []string{*v}
		}
	}
	if expires != "" {
		h["Expires"] = []string{expires}
	}
	for k, v := range in.Metadata {
		h["X-Amz-Meta-"+k] = []string{v}
	}
	start, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", fmt.Errorf("seek body: %w", err)
	}
	// A small body is read once, for its hash and every try: one read of
	// the file instead of one per use. (Not from a pool: the transport
	// may still read a request's body after Do returns.)
	var mem []byte
	if size <= directBuffered {
		mem = make([]byte, size)
		if _, err := io.ReadFull(body, mem); err != nil {
			return "", fmt.Errorf("read body: %w", err)
		}
	}
	payload := "UNSIGNED-PAYLOAD"
	if u.Scheme == "http" {
		// Without TLS the signature covers the body, as the SDK does it.
		hash := sha256.New()
		if mem != nil {
			hash.Write(mem)
		} else if _, err := io.CopyN(hash, body, size); err != nil {
			return "", fmt.Errorf("hash body: %w", err)
		}
		payload = hex.EncodeToString(hash.Sum(nil))
	}
	var etag string
	err = d.do(ctx, ep, "PutObject", func() (*http.Request, error) {
		var r io.Reader
		if mem != nil {
			r = bytes.NewReader(mem)
		} else {
			if _, err := body.Seek(start, io.SeekStart); err != nil {
				return nil, fmt.Errorf("seek body: %w", err)
			}
			r = io.LimitReader(body, size)
		}
		req, err := newRequest(ctx, http.MethodPut, u, h, io.NopCloser(r))
		if err != nil {
			return nil, err
		}
		req.ContentLength = size
		if mem != nil {
			// A stale pooled connection is replaced at once.
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(mem)), nil }
		}
		if size == 0 {
			req.Body = http.NoBody
		}
		return req, nil
	}, payload, func(resp *http.Response) error {
		etag = resp.Header.Get("Etag")
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
		resp.Body.Close()
		return nil
	})
	return etag, err
}

// get sends a GetObject with the Range and If-None-Match headers given
// (either may be empty) and returns the response, whose body the caller
// closes.
func (d *direct) get(ctx context.Context, ep *endpoint, key, rng, ifNoneMatch string) (*http.Response, error) {
	u := objectURL(ep.base, key)
	h := make(http.Header, 4)
	if rng != "" {
		h["Range"] = []string{rng}
	}
	if ifNoneMatch != "" {
		h["If-None-Match"] = []string{ifNoneMatch}
	}
	var out *http.Response
	err := d.do(ctx, ep, "GetObject", func() (*http.Request, error) {
		return newRequest(ctx, http.MethodGet, u, h, nil)
	}, emptySHA256, func(resp *http.Response) error {
		out = resp
		return nil
	})
	return out, err
}

// emptySHA256 is the hex SHA-256 of no bytes, the payload hash of a GET.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func newRequest(ctx context.Context, method string, u *url.URL, h http.Header, body io.ReadCloser) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.URL = u
	for k, v := range h {
		req.Header[k] = v
	}
	// Bodies are sent and received as they are: no transparent gzip.
	req.Header["Accept-Encoding"] = []string{"identity"}
	req.Header["User-Agent"] = []string{"objstore"}
	if body != nil {
		req.Body = body
	}
	return req, nil
}

// do signs and sends the request build makes, and again on a retryable
// failure as the retryer allows. ok is called with a 2xx response and
// owns its body; any other response becomes an error of the SDK's types.
func (d *direct) do(ctx context.Context, ep *endpoint, op string, build func() (*http.Request, error), payload string, ok func(*http.Response) error) error {
	release := d.retryer.GetInitialToken()
	err := d.attempt(ctx, ep, build, payload, ok)
	release(err)
	for attempt := 1; err != nil && attempt < d.retryer.MaxAttempts() && ctx.Err() == nil && d.retryer.IsErrorRetryable(err); attempt++ {
		rel, terr := d.retryer.GetRetryToken(ctx, err)
		if terr != nil {
			break // the retry quota is spent: the backend keeps failing
		}
		delay, derr := d.retryer.RetryDelay(attempt, err)
		if derr != nil {
			rel(err)
			break
		}
		if !sleep(ctx, delay) {
			rel(ctx.Err())
			break
		}
		err = d.attempt(ctx, ep, build, payload, ok)
		rel(err)
	}
	if err != nil {
		return &smithy.OperationError{ServiceID: "S3", OperationName: op, Err: err}
	}
	return nil
}

func (d *direct) attempt(ctx context.Context, ep *endpoint, build func() (*http.Request, error), payload string, ok func(*http.Response) error) error {
	req, err := build()
	if err != nil {
		return err
	}
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	if creds.AccessKeyID == "" {
		// Anonymous credentials: a public bucket, unsigned requests.
		req.Header["X-Amz-Content-Sha256"] = []string{payload}
	} else if err := d.signer.Sign(req, sigv4.Key{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, Token: creds.SessionToken}, d.region, payload, time.Now()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	resp, err := ep.send(req)
	if err != nil {
		// As the SDK wraps it, so that the retryer sees a connection
		// error for what it is.
		return &smithyhttp.RequestSendError{Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return ok(resp)
	}
	return responseError(resp)
}

// responseError reads an S3 error response into the error the SDK would
// return for it: a smithy.APIError with the XML body's code and message
// (or, without them, the status text as code, as the SDK derives it),
// inside an *awshttp.ResponseError that carries the status.
func responseError(resp *http.Response) error {
	defer resp.Body.Close()
	var body struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if len(b) > 0 {
		xml.Unmarshal(b, &body) // a body that is no S3 error leaves it empty
	}
	if body.Code == "" && body.Message == "" {
		text := http.StatusText(resp.StatusCode)
		body.Code, body.Message = strings.ReplaceAll(text, " ", ""), text
	}
	if body.Code == "" {
		body.Code = "UnknownError"
	}
	if body.RequestID == "" {
		body.RequestID = resp.Header.Get("X-Amz-Request-Id")
	}
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: resp},
			Err:      &smithy.GenericAPIError{Code: body.Code, Message: body.Message},
		},
		RequestID: body.RequestID,
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// getOutput reads the headers of a GetObject response as the SDK does
// into a GetObjectOutput (the fields Get uses).
func getOutput(resp *http.Response) (*s3.GetObjectOutput, error) {
	h := resp.Header
	out := &s3.GetObjectOutput{Body: resp.Body}
	str := func(name string) *string {
		if v, ok := h[name]; ok && len(v) > 0 {
			s := strings.TrimSpace(v[0])
			return &s
		}
		return nil
	}
	out.ETag = str("Etag")
	out.ContentType = str("Content-Type")
	out.CacheControl = str("Cache-Control")
	out.ContentDisposition = str("Content-Disposition")
	out.ContentEncoding = str("Content-Encoding")
	out.ContentLanguage = str("Content-Language")
	out.ContentRange = str("Content-Range")
	out.ExpiresString = str("Expires")
	if v := str("Last-Modified"); v != nil {
		t, err := http.ParseTime(*v)
		if err != nil {
			return nil, fmt.Errorf("malformed Last-Modified %q", *v)
		}
		out.LastModified = &t
	}
	if v := str("Content-Length"); v != nil {
		n, err := strconv.ParseInt(*v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("malformed Content-Length %q", *v)
		}
		out.ContentLength = &n
	} else if resp.ContentLength >= 0 {
		n := resp.ContentLength
		out.ContentLength = &n
	}
	for k, v := range h {
		if len(k) > len("X-Amz-Meta-") && strings.EqualFold(k[:len("X-Amz-Meta-")], "X-Amz-Meta-") && len(v) > 0 {
			if out.Metadata == nil {
				out.Metadata = make(map[string]string)
			}
			out.Metadata[strings.ToLower(k[len("X-Amz-Meta-"):])] = strings.TrimSpace(v[0])
		}
	}
	return out, nil
}

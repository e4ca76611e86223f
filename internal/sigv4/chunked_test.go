package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The example of the AWS documentation "Signature Calculations for the
// Authorization Header: Transferring Payload in Multiple Chunks" and its
// trailer variant: 66560 bytes of 'a' in a 64 KiB and a 1 KiB chunk,
// signed with the example key at 20130524T000000Z.
var (
	docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	docData = bytes.Repeat([]byte{'a'}, 66560)
)

const (
	docSeed        = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	docTrailerSeed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
)

var (
	docChunkSigs        = []string{"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648", "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"}
	docTrailerChunkSigs = []string{"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2", "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7", "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"}
)

const docTrailer = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"

// docBody frames docData in the documented chunks with the given
// signatures; tail follows the final chunk's header.
func docBody(sigs []string, tail string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "10000;chunk-signature=%s\r\n", sigs[0])
	b.Write(docData[:65536])
	fmt.Fprintf(&b, "\r\n400;chunk-signature=%s\r\n", sigs[1])
	b.Write(docData[65536:])
	fmt.Fprintf(&b, "\r\n0;chunk-signature=%s\r\n%s", sigs[2], tail)
	return b.Bytes()
}

// docRequest is the documented request as a server receives it.
func docRequest(t *testing.T, payload, signedHeaders, seed string, extra http.Header, body []byte) *http.Request {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n")
	b.WriteString("x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n")
	fmt.Fprintf(&b, "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=%s,Signature=%s\r\n", signedHeaders, seed)
	fmt.Fprintf(&b, "x-amz-content-sha256: %s\r\nContent-Encoding: aws-chunked\r\nx-amz-decoded-content-length: 66560\r\n", payload)
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	for k, vs := range extra {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(body)
	return parseServer(t, b.Bytes())
}

func docVerifier(t *testing.T) *Verifier {
	return newTestVerifier(t, func(c *Config) { c.Now = at(docTime) })
}

// TestAWSDocStreamingExample verifies the documented chunked upload: its
// seed signature from the documented headers, then each chunk.
func TestAWSDocStreamingExample(t *testing.T) {
	const signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
	body := docBody(docChunkSigs, "\r\n")
	if len(body) != 66824 {
		t.Fatalf("documented Content-Length is 66824, body has %d", len(body))
	}
	res, got, err := readAll(docVerifier(t), docRequest(t, StreamingPayload, signed, docSeed, nil, body))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, docData) || res.DecodedLength != 66560 || res.ContentEncoding != "" {
		t.Fatalf("decoded %d bytes, result %+v", len(got), res)
	}
}

// TestAWSDocStreamingTrailerExample verifies the documented chunked upload
// with a signed trailer carrying x-amz-checksum-crc32c.
func TestAWSDocStreamingTrailerExample(t *testing.T) {
	const signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
	extra := http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32c"}}
	for _, tc := range []struct {
		name string
		tail string
	}{
		{name: "trailer after the final chunk", tail: docTrailer},
		{name: "empty line before the trailer, as the documentation shows", tail: "\r\n" + docTrailer},
		{name: "no final empty line", tail: strings.TrimSuffix(docTrailer, "\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, got, err := readAll(docVerifier(t), docRequest(t, StreamingPayloadTrailer, signed, docTrailerSeed, extra, docBody(docTrailerChunkSigs, tc.tail)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, docData) {
				t.Fatalf("decoded %d bytes", len(got))
			}
			want := []Checksum{{Algorithm: CRC32C, Value: "sOO8/Q=="}}
			if sums := res.Body.Checksums(); len(sums) != 1 || sums[0] != want[0] {
				t.Fatalf("Checksums() = %v, want %v", sums, want)
			}
		})
	}
}

// TestSDKStreamSignerMatchesDocs checks that the SDK's event-stream signer,
// with empty headers, computes S3 chunk signatures: the tests below sign
// chunks with it.
func TestSDKStreamSignerMatchesDocs(t *testing.T) {
	seed, _ := hex.DecodeString(docSeed)
	s := v4.NewStreamSigner(testCreds, "s3", "us-east-1", seed)
	for i, chunk := range [][]byte{docData[:65536], docData[65536:], nil} {
		sig, err := s.GetSignature(context.Background(), nil, chunk, docTime)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(sig); got != docChunkSigs[i] {
			t.Errorf("chunk %d: signature %s, want %s", i, got, docChunkSigs[i])
		}
	}
}

// chunkSigner signs aws-chunked bodies for a request signed at testTime.
type chunkSigner struct {
	t      *testing.T
	stream *v4.StreamSigner
	sc     scope
	prev   string
}

// streamingRequest returns a signed client request with an aws-chunked
// body made of chunks, signed by the SDK; payload is StreamingPayload or
// StreamingPayloadTrailer, and trailer the trailer lines (without
// signature) for the latter.
func streamingRequest(t *testing.T, payload string, chunks [][]byte, trailer []string, mutate func(body []byte) []byte) *http.Request {
	t.Helper()
	var decoded int
	for _, c := range chunks {
		decoded += len(c)
	}
	r := newRequest(t, "PUT", "http://s3.test/bucket/streamed", nil)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decoded))
	if payload == StreamingPayloadTrailer {
		var names []string
		for _, l := range trailer {
			n, _, _ := strings.Cut(l, ":")
			names = append(names, n)
		}
		r.Header.Set("X-Amz-Trailer", strings.Join(names, ","))
	}
	signHeader(t, r, payload, testCreds, testRegion, testTime)
	a := r.Header.Get("Authorization")
	seed := a[strings.LastIndex(a, "=")+1:]
	seedBytes, _ := hex.DecodeString(seed)
	cs := &chunkSigner{t: t, stream: v4.NewStreamSigner(testCreds, "s3", testRegion, seedBytes), prev: seed,
		sc: scope{date: testTime.Format(scopeDateFormat), region: testRegion, amzDate: testTime.Format(amzDateFormat),
			key: newSigningKey(testSecret, testTime.Format(scopeDateFormat), testRegion)}}

	var body bytes.Buffer
	for _, c := range append(chunks, nil) {
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", len(c), cs.sign(c))
		if len(c) > 0 {
			body.Write(c)
			body.WriteString("\r\n")
		}
	}
	if payload == StreamingPayloadTrailer {
		var canon strings.Builder
		for _, l := range trailer {
			body.WriteString(l + "\r\n")
			canon.WriteString(l + "\n")
		}
		sig := cs.sc.sign(cs.sc.trailerStringToSign(cs.prev, hexSHA256([]byte(canon.String()))))
		body.WriteString("x-amz-trailer-signature:" + sig + "\r\n")
	}
	body.WriteString("\r\n")
	b := body.Bytes()
	if mutate != nil {
		b = mutate(b)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	return r
}

func (cs *chunkSigner) sign(chunk []byte) string {
	sig, err := cs.stream.GetSignature(context.Background(), nil, chunk, testTime)
	if err != nil {
		cs.t.Fatal(err)
	}
	cs.prev = hex.EncodeToString(sig)
	return cs.prev
}

func crc32Base64(b []byte) string {
	var sum [4]byte
	v := crc32.ChecksumIEEE(b)
	sum[0], sum[1], sum[2], sum[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestSignedStreaming decodes bodies chunk-signed with the SDK's signer and
// checks what tampering is caught.
func TestSignedStreaming(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80000 bytes
	chunks := [][]byte{data[:65536], data[65536:]}
	good := []string{"x-amz-checksum-crc32:" + crc32Base64(data)}
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b[at] ^= 1; return b }
	}
	findFlip := func(s string, off int) func([]byte) []byte {
		return func(b []byte) []byte { b[bytes.Index(b, []byte(s))+off] ^= 1; return b }
	}
	tests := []struct {
		name    string
		payload string
		chunks  [][]byte
		trailer []string
		mutate  func([]byte) []byte
		config  func(*Config)
		want    error
		msg     string
	}{
		{name: "signed", payload: StreamingPayload, chunks: chunks},
		{name: "signed, one chunk", payload: StreamingPayload, chunks: [][]byte{[]byte("small")}},
		{name: "signed, empty", payload: StreamingPayload},
		{name: "signed trailer", payload: StreamingPayloadTrailer, chunks: chunks, trailer: good},
		{name: "chunk data tampered", payload: StreamingPayload, chunks: chunks, mutate: flip(1000), want: ErrSignatureDoesNotMatch},
		{name: "last chunk data tampered", payload: StreamingPayload, chunks: chunks, mutate: func(b []byte) []byte {
			b[bytes.LastIndex(b, []byte("0;chunk"))-5] ^= 1
			return b
		}, want: ErrSignatureDoesNotMatch},
		{name: "chunk signature tampered", payload: StreamingPayload, chunks: chunks, mutate: findFlip("chunk-signature=", 20),
			want: ErrSignatureDoesNotMatch, msg: "chunk signature"},
		{name: "final chunk signature tampered", payload: StreamingPayload, chunks: chunks, mutate: findFlip("\r\n0;chunk-signature=", 25),
			want: ErrSignatureDoesNotMatch},
		{name: "chunks swapped", payload: StreamingPayload, chunks: [][]byte{[]byte("first chunk."), []byte("second chunk")},
			mutate: func(b []byte) []byte {
				return bytes.Replace(bytes.Replace(b, []byte("first chunk."), []byte("XXXXXXXXXXXX"), 1),
					[]byte("second chunk"), []byte("first chunk."), 1)
			}, want: ErrSignatureDoesNotMatch},
		{name: "trailer value tampered", payload: StreamingPayloadTrailer, chunks: chunks, trailer: good,
			mutate: findFlip("x-amz-checksum-crc32:", 22), want: ErrSignatureDoesNotMatch, msg: "trailer signature"},
		{name: "trailer signature missing", payload: StreamingPayloadTrailer, chunks: chunks, trailer: good,
			mutate: func(b []byte) []byte { return b[:bytes.Index(b, []byte("x-amz-trailer-signature"))] }, want: ErrIncompleteBody},
		{name: "signed trailer with wrong checksum", payload: StreamingPayloadTrailer, chunks: chunks,
			trailer: []string{"x-amz-checksum-crc32:AAAAAA=="}, want: ErrBadDigest, msg: "CRC32"},
		{name: "chunk without signature", payload: StreamingPayload, chunks: chunks, mutate: func(b []byte) []byte {
			return bytes.Replace(b, []byte(";chunk-signature="), []byte(";x="), 1)
		}, want: ErrInvalidRequest, msg: "chunk-signature"},
		{name: "chunk size not hex", payload: StreamingPayload, chunks: chunks, mutate: func(b []byte) []byte {
			return bytes.Replace(b, []byte("10000;"), []byte("1000g;"), 1)
		}, want: ErrInvalidRequest, msg: "chunk size"},
		{name: "negative chunk size", payload: StreamingPayload, chunks: chunks, mutate: func(b []byte) []byte {
			return bytes.Replace(b, []byte("10000;"), []byte("-1000;"), 1)
		}, want: ErrInvalidRequest, msg: "chunk size"},
		{name: "chunk data not followed by CRLF", payload: StreamingPayload, chunks: chunks, mutate: func(b []byte) []byte {
			b[bytes.Index(b, []byte("\r\n"))+2+65536] = 'x'
			return b
		}, want: ErrInvalidRequest, msg: "CRLF"},
		{name: "chunk larger than the limit", payload: StreamingPayload, chunks: chunks,
			config: func(c *Config) { c.MaxChunkSize = 65535 }, want: ErrInvalidRequest, msg: "larger than the limit"},
		{name: "huge chunk size", payload: StreamingPayload, chunks: chunks, mutate: func(b []byte) []byte {
			return bytes.Replace(b, []byte("10000;"), []byte("7fffffffffffffff;"), 1)
		}, want: ErrInvalidRequest, msg: "larger than the limit"},
		{name: "header line too long", payload: StreamingPayload, chunks: chunks, mutate: func(b []byte) []byte {
			return bytes.Replace(b, []byte("10000;"), []byte("10000;"+strings.Repeat("x", 5000)+";"), 1)
		}, want: ErrInvalidRequest, msg: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := streamingRequest(t, tc.payload, tc.chunks, tc.trailer, tc.mutate)
			res, got, err := readAll(newTestVerifier(t, tc.config), toServer(t, r))
			wantErr(t, err, tc.want, tc.msg)
			if tc.want != nil {
				return
			}
			if want := bytes.Join(tc.chunks, nil); !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(want))
			}
			if res.ContentEncoding != "" {
				t.Errorf("ContentEncoding %q still has aws-chunked", res.ContentEncoding)
			}
			if tc.trailer != nil && len(res.Body.Checksums()) != 1 {
				t.Errorf("Checksums() = %v", res.Body.Checksums())
			}
		})
	}
}

// TestSignedStreamingTruncated cuts a signed body at every interesting
// place: each must fail, most as IncompleteBody, and none may end in
// io.EOF.
func TestSignedStreamingTruncated(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 70000)
	r := streamingRequest(t, StreamingPayload, [][]byte{data[:65536], data[65536:]}, nil, nil)
	full, _ := io.ReadAll(r.Body)
	for _, cut := range []int{0, 10, 86, 87, 1000, 65536 + 86, 65536 + 87, 65536 + 89, 65536 + 150, len(full) - 90, len(full) - 3} {
		t.Run(strconv.Itoa(cut), func(t *testing.T) {
			rr := r.Clone(context.Background())
			rr.Header.Set("Content-Length", strconv.Itoa(cut))
			rr.Body, rr.ContentLength = io.NopCloser(bytes.NewReader(full[:cut])), int64(cut)
			_, _, err := readAll(newTestVerifier(t, nil), toServer(t, rr))
			if err == nil {
				t.Fatal("truncated body accepted")
			}
			wantErr(t, err, ErrIncompleteBody, "")
		})
	}
	// A body that ends right after the final chunk's header is complete.
	rr := r.Clone(context.Background())
	cut := len(full) - 2
	rr.Body, rr.ContentLength = io.NopCloser(bytes.NewReader(full[:cut])), int64(cut)
	if _, _, err := readAll(newTestVerifier(t, nil), toServer(t, rr)); err != nil {
		t.Fatal(err)
	}
}

// TestStreamingDecodedLength: the decoded body must have exactly
// x-amz-decoded-content-length bytes.
func TestStreamingDecodedLength(t *testing.T) {
	for _, tc := range []struct {
		name    string
		declare string
		want    error
	}{
		{name: "exact", declare: "11"},
		{name: "body longer", declare: "10", want: ErrIncompleteBody},
		{name: "body shorter", declare: "12", want: ErrIncompleteBody},
		{name: "not a number", declare: "eleven", want: ErrInvalidArgument},
		{name: "negative", declare: "-1", want: ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := unsignedTrailerRequest(t, []string{"hello ", "world"}, "x-amz-checksum-crc32", "x-amz-checksum-crc32:"+crc32Base64([]byte("hello world")))
			r.Header.Set("X-Amz-Decoded-Content-Length", tc.declare)
			signHeader(t, r, StreamingUnsignedPayloadTrailer, testCreds, testRegion, testTime)
			res, got, err := readAll(newTestVerifier(t, nil), toServer(t, r))
			wantErr(t, err, tc.want, "")
			if tc.want == nil && (string(got) != "hello world" || res.DecodedLength != 11) {
				t.Fatalf("got %q, DecodedLength %d", got, res.DecodedLength)
			}
		})
	}
}

// unsignedTrailerRequest returns an unsigned (not yet signed) client
// request with an unsigned aws-chunked body in aws-sdk-go-v2's framing.
func unsignedTrailerRequest(t *testing.T, chunks []string, declared string, trailer string) *http.Request {
	var body strings.Builder
	n := 0
	for _, c := range chunks {
		fmt.Fprintf(&body, "%x\r\n%s\r\n", len(c), c)
		n += len(c)
	}
	body.WriteString("0\r\n")
	if trailer != "" {
		body.WriteString(trailer + "\r\n")
	}
	body.WriteString("\r\n")
	r := newRequest(t, "PUT", "https://s3.test/bucket/k", []byte(body.String()))
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(n))
	if declared != "" {
		r.Header.Set("X-Amz-Trailer", declared)
	}
	return r
}

// TestUnsignedStreamingTrailer decodes STREAMING-UNSIGNED-PAYLOAD-TRAILER
// bodies, as aws-sdk-go-v2 and boto3 send them over HTTPS, with every
// checksum algorithm.
func TestUnsignedStreamingTrailer(t *testing.T) {
	const text = "hello world"
	// Values from aws-sdk-go-v2's checksum tests and the algorithms'
	// definitions.
	sums := map[string]string{
		"crc32":     "DUoRhQ==",
		"crc32c":    "yZRlqg==",
		"crc64nvme": "jSnVw/bqjr4=",
		"sha1":      "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
		"sha256":    "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
	}
	type tcase struct {
		name     string
		declared string
		trailer  string
		chunks   []string
		want     error
		msg      string
		checksum string
	}
	var tests []tcase
	for alg, sum := range sums {
		tests = append(tests, tcase{name: alg, declared: "x-amz-checksum-" + alg, trailer: "x-amz-checksum-" + alg + ":" + sum,
			chunks: []string{"hello", " ", "world"}, checksum: sum})
	}
	tests = append(tests,
		tcase{name: "wrong checksum", declared: "x-amz-checksum-crc32", trailer: "x-amz-checksum-crc32:AAAAAA==",
			chunks: []string{text}, want: ErrBadDigest, msg: "CRC32"},
		tcase{name: "declared trailer missing", declared: "x-amz-checksum-crc32", chunks: []string{text},
			want: ErrInvalidRequest, msg: "was not sent"},
		tcase{name: "other trailer sent", declared: "x-amz-checksum-crc32", trailer: "x-amz-checksum-sha1:" + sums["sha1"],
			chunks: []string{text}, want: ErrInvalidRequest, msg: "was not sent"},
		tcase{name: "trailer value malformed", declared: "x-amz-checksum-crc32", trailer: "x-amz-checksum-crc32:zz",
			chunks: []string{text}, want: ErrInvalidRequest, msg: "invalid"},
		tcase{name: "uppercase declaration", declared: "X-Amz-Checksum-Crc32", trailer: "x-amz-checksum-crc32:" + sums["crc32"],
			chunks: []string{text}, checksum: sums["crc32"]},
		tcase{name: "no trailer declared", chunks: []string{text}},
	)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := unsignedTrailerRequest(t, tc.chunks, tc.declared, tc.trailer)
			signHeader(t, r, StreamingUnsignedPayloadTrailer, testCreds, testRegion, testTime)
			res, got, err := readAll(newTestVerifier(t, nil), toServer(t, r))
			wantErr(t, err, tc.want, tc.msg)
			if tc.want != nil {
				return
			}
			if string(got) != text {
				t.Fatalf("got %q", got)
			}
			if tc.checksum != "" {
				if s := res.Body.Checksums(); len(s) != 1 || s[0].Value != tc.checksum || s[0].Header() != strings.ToLower(tc.declared) {
					t.Fatalf("Checksums() = %v", s)
				}
			}
		})
	}
}

// TestMinioGoTrailerFraming decodes the framing minio-go uses for trailers:
// trailer lines ended by "\n" alone, and an empty line before the trailer
// signature.
func TestMinioGoTrailerFraming(t *testing.T) {
	data := []byte("minio framing")
	sum := crc32Base64(data)
	r := streamingRequest(t, StreamingPayloadTrailer, [][]byte{data}, []string{"x-amz-checksum-crc32:" + sum}, func(b []byte) []byte {
		i := bytes.Index(b, []byte("x-amz-checksum-crc32:"))
		j := bytes.Index(b, []byte("x-amz-trailer-signature"))
		line := strings.TrimSuffix(string(b[i:j]), "\r\n")
		return append(append(append([]byte{}, b[:i]...), line+"\n\r\n"...), b[j:]...)
	})
	_, got, err := readAll(newTestVerifier(t, nil), toServer(t, r))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %q, %v", got, err)
	}

	// Unsigned: "x-amz-checksum-crc32:...\n\r\n\r\n".
	r = unsignedTrailerRequest(t, []string{string(data)}, "x-amz-checksum-crc32", "")
	b, _ := io.ReadAll(r.Body)
	b = append(bytes.TrimSuffix(b, []byte("\r\n")), "x-amz-checksum-crc32:"+sum+"\n\r\n\r\n"...)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	signHeader(t, r, StreamingUnsignedPayloadTrailer, testCreds, testRegion, testTime)
	if _, got, err = readAll(newTestVerifier(t, nil), toServer(t, r)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("unsigned: got %q, %v", got, err)
	}
}

// TestStreamingSmallReads decodes a signed body through reads of one byte
// and of odd sizes, and a source that returns one byte at a time.
func TestStreamingSmallReads(t *testing.T) {
	data := bytes.Repeat([]byte("abc"), 30000)
	chunks := [][]byte{data[:65536], data[65536:]}
	for _, tc := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{name: "one byte source", wrap: iotest.OneByteReader},
		{name: "half reads", wrap: iotest.HalfReader},
		{name: "data with EOF", wrap: iotest.DataErrReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := toServer(t, streamingRequest(t, StreamingPayloadTrailer, chunks, []string{"x-amz-checksum-crc32:" + crc32Base64(data)}, nil))
			// The wrappers are meant for sources that return io.EOF after
			// their data, as bytes.Reader does (iotest.DataErrReader loses
			// data otherwise).
			b, err := io.ReadAll(sr.Body)
			if err != nil {
				t.Fatal(err)
			}
			sr.Body = io.NopCloser(tc.wrap(bytes.NewReader(b)))
			res, err := newTestVerifier(t, nil).Verify(sr)
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(res.Body, data); err != nil {
				t.Fatal(err)
			}
		})
	}
}

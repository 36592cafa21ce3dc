using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>The fault proxy itself: transparent forwarding in every registry mode, and each kind of rule.</summary>
[TestClass]
public sealed class FaultProxyTests
{
    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Token)]
    [DataRow(RegistryMode.Tls)]
    public async Task Forwards_StreamsABlobUpAndDown_AndRewritesUploadLocations(RegistryMode mode)
    {
        var server = await TestRegistries.Get(mode);
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        var repository = TestNames.Repository("proxy-forward");
        using var client = ProxyClient(proxy);
        var auth = await server.GetAuthorizationAsync(repository, "pull,push", Cancel);
        var blob = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        var digest = Digest.FromContent(blob);

        using var start = await SendAsync(client, HttpMethod.Post, $"v2/{repository}/blobs/uploads/", auth, new ByteArrayContent([]));
        Assert.AreEqual(HttpStatusCode.Accepted, start.StatusCode);
        var location = start.Headers.Location!;
        Assert.AreEqual(proxy.BaseUri.GetLeftPart(UriPartial.Authority), location.GetLeftPart(UriPartial.Authority), "the upload location points at the proxy");

        var separator = location.Query.Length > 0 ? "&" : "?";
        using var put = await SendAsync(client, HttpMethod.Put, location + separator + "digest=" + Uri.EscapeDataString(digest.ToString()), auth, new StreamContent(new MemoryStream(blob)));
        Assert.AreEqual(HttpStatusCode.Created, put.StatusCode);

        using var get = await SendAsync(client, HttpMethod.Get, $"v2/{repository}/blobs/{digest}", auth);
        CollectionAssert.AreEqual(blob, await get.Content.ReadAsByteArrayAsync(Cancel));
        using var head = await SendAsync(client, HttpMethod.Head, $"v2/{repository}/blobs/{digest}", auth);
        Assert.AreEqual(blob.Length, head.Content.Headers.ContentLength);
        Assert.AreEqual(digest.ToString(), head.Headers.GetValues("Docker-Content-Digest").Single());

        var exchanges = proxy.Exchanges;
        CollectionAssert.AreEqual(new[] { "POST 202", "PUT 201", "GET 200", "HEAD 200" }, exchanges.Select(e => $"{e.Method} {e.Status}").ToArray(), proxy.Transcript());
        Assert.IsTrue(exchanges.All(e => e.Outcome == ProxyOutcome.Forwarded && e.Rule is null));
        Assert.AreEqual(repository, exchanges[0].Request.Repository);
        Assert.AreEqual(server.IsTls ? null : server.Username is null ? null : "Authorization", exchanges[0].Request.Headers.ContainsKey("Authorization") ? "Authorization" : null);
    }

    [TestMethod]
    public async Task TokenRealmOnAnotherPort_IsLeftAlone()
    {
        var server = await TestRegistries.Token;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);

        using var response = await SendAsync(client, HttpMethod.Get, "v2/", null);

        Assert.AreEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        StringAssert.Contains(response.Headers.WwwAuthenticate.ToString(), $"realm=\"{server.TokenServer!.Realm}\"");
    }

    [TestMethod]
    public async Task UpstreamUrls_AreRewrittenOnlyForTheUpstreamOrigin()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        var origin = server.BaseUri.GetLeftPart(UriPartial.Authority);

        Assert.AreEqual($"{proxy.BaseUri.GetLeftPart(UriPartial.Authority)}/v2/a/blobs/uploads/x?y=1", proxy.RewriteUpstreamUrls($"{origin}/v2/a/blobs/uploads/x?y=1"));
        Assert.AreEqual($"Bearer realm=\"{origin}1/token\"", proxy.RewriteUpstreamUrls($"Bearer realm=\"{origin}1/token\""), "a longer port is another origin");
        Assert.AreEqual("/v2/a/blobs/uploads/x", proxy.RewriteUpstreamUrls("/v2/a/blobs/uploads/x"));
    }

    [TestMethod]
    public async Task Rules_FireOnceNTimesOrAlways_FirstMatchWins()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        var once = proxy.When(r => r.Path == "/v2/", FaultAction.Respond(503), times: 1);
        var twice = proxy.When(r => r.Path == "/v2/", FaultAction.Respond(502), times: 2);
        var always = proxy.When(r => r.Path.EndsWith("/tags/list", StringComparison.Ordinal), FaultAction.RegistryError(403, "DENIED", "no"));

        var statuses = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await SendAsync(client, HttpMethod.Get, "v2/", null);
            statuses.Add((int)response.StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            using var denied = await SendAsync(client, HttpMethod.Get, "v2/any/tags/list", null);
            Assert.AreEqual(HttpStatusCode.Forbidden, denied.StatusCode);
            StringAssert.Contains(await denied.Content.ReadAsStringAsync(Cancel), "\"code\":\"DENIED\"");
        }

        CollectionAssert.AreEqual(new[] { 503, 502, 502, 200 }, statuses);
        Assert.AreEqual(1, once.Fired);
        Assert.AreEqual(2, twice.Fired);
        Assert.AreEqual(3, always.Fired);
        Assert.AreEqual(ProxyOutcome.Answered, proxy.Exchanges[0].Outcome);
        Assert.IsNull(proxy.Exchanges[0].UpstreamStatus, "an answered request never reaches the registry");
        Assert.AreEqual(ProxyOutcome.Forwarded, proxy.Exchanges[3].Outcome);

        proxy.ClearRules();
        using var after = await SendAsync(client, HttpMethod.Get, "v2/any/tags/list", null);
        Assert.AreEqual(HttpStatusCode.NotFound, after.StatusCode);
    }

    [TestMethod]
    public async Task OnceRule_FiresOnceUnderConcurrency()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        var rule = proxy.When(_ => true, FaultAction.Respond(500), times: 1);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            using var response = await SendAsync(client, HttpMethod.Get, "v2/", null);
            return (int)response.StatusCode;
        }));

        Assert.AreEqual(1, statuses.Count(s => s == 500));
        Assert.AreEqual(15, statuses.Count(s => s == 200));
        Assert.AreEqual(1, rule.Fired);
    }

    [TestMethod]
    public async Task Reset_BeforeForwardingNeverReachesTheRegistry_AfterForwardingDoes()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        var repository = TestNames.Repository("proxy-reset");
        var image = TestImages.Image(TestImages.LinuxAmd64, "reset");
        foreach (var blob in image.Blobs)
        {
            await UploadAsync(client, repository, blob.Bytes);
        }

        proxy.When(r => r.Is("PUT", "/manifests/before"), FaultAction.Reset, times: 1);
        proxy.When(r => r.Is("PUT", "/manifests/after"), FaultAction.ResetAfterForwarding, times: 1);

        await Assert.ThrowsAsync<HttpRequestException>(() => SendAsync(client, HttpMethod.Put, $"v2/{repository}/manifests/before", null, Manifest(image)));
        await Assert.ThrowsAsync<HttpRequestException>(() => SendAsync(client, HttpMethod.Put, $"v2/{repository}/manifests/after", null, Manifest(image)));

        Assert.IsNull(await RegistryContent.ResolveAsync(server, repository, "before", Cancel), "reset before forwarding: the registry never saw the PUT");
        Assert.AreEqual(image.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "after", Cancel), "reset after forwarding: the registry applied the PUT");
        var puts = proxy.ExchangesFor(r => r.Method == "PUT" && r.IsManifest);
        Assert.AreEqual(ProxyOutcome.ResetBeforeForwarding, puts[0].Outcome);
        Assert.AreEqual(0, puts[0].Status);
        Assert.AreEqual(ProxyOutcome.ResetAfterForwarding, puts[1].Outcome);
        Assert.AreEqual(201, puts[1].UpstreamStatus);
    }

    [TestMethod]
    public async Task RetryAfter_InSecondsAndAsAnHttpDate()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        var until = new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);
        proxy.When(r => r.Path == "/v2/", FaultAction.RetryAfter(429, TimeSpan.FromSeconds(2.5)), times: 1);
        proxy.When(r => r.Path == "/v2/", FaultAction.RetryAfter(503, until), times: 1);

        using var seconds = await SendAsync(client, HttpMethod.Get, "v2/", null);
        using var date = await SendAsync(client, HttpMethod.Get, "v2/", null);

        Assert.AreEqual(HttpStatusCode.TooManyRequests, seconds.StatusCode);
        Assert.AreEqual(TimeSpan.FromSeconds(3), seconds.Headers.RetryAfter!.Delta);
        StringAssert.Contains(await seconds.Content.ReadAsStringAsync(Cancel), "TOOMANYREQUESTS");
        Assert.AreEqual(HttpStatusCode.ServiceUnavailable, date.StatusCode);
        Assert.AreEqual("Wed, 02 Jan 2030 03:04:05 GMT", date.Headers.GetValues("Retry-After").Single());
        Assert.AreEqual(until, date.Headers.RetryAfter!.Date);
    }

    [TestMethod]
    public async Task Delay_HoldsTheResponseHeaders_ThenForwards()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        proxy.When(r => r.Path == "/v2/", FaultAction.Delay(TimeSpan.FromMilliseconds(400)), times: 1);

        var stopwatch = Stopwatch.StartNew();
        using var response = await SendAsync(client, HttpMethod.Get, "v2/", null);

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.IsGreaterThanOrEqualTo(350, stopwatch.ElapsedMilliseconds);
        Assert.AreEqual(200, proxy.Exchanges.Single().UpstreamStatus);
    }

    [TestMethod]
    public async Task TamperBody_ChangesTheBytes_KeepsTheRegistrysDigestHeader()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("proxy-tamper");
        var image = TestImages.Image(TestImages.LinuxAmd64, "tamper");
        await SkopeoPusher.PushAsync(server, repository, "1", image, Cancel);
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.TamperBody(bytes => [.. bytes, (byte)' ']), times: 1);

        using var request = new HttpRequestMessage(HttpMethod.Get, $"v2/{repository}/manifests/1");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciManifest));
        using var response = await client.SendAsync(request, Cancel);
        var body = await response.Content.ReadAsByteArrayAsync(Cancel);

        CollectionAssert.AreEqual(image.Manifest.Append((byte)' ').ToArray(), body);
        Assert.AreEqual(body.Length, response.Content.Headers.ContentLength);
        Assert.AreEqual(image.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.AreEqual(ProxyOutcome.Tampered, proxy.Exchanges.Single().Outcome);
    }

    [TestMethod]
    public async Task RefuseMount_OpensARealUploadSessionAtTheProxy()
    {
        var server = await TestRegistries.Open;
        var source = TestNames.Repository("proxy-mount-src");
        var target = TestNames.Repository("proxy-mount-dst");
        var image = TestImages.Image(TestImages.LinuxAmd64, "mount");
        await SkopeoPusher.PushAsync(server, source, "1", image, Cancel);
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        proxy.When(r => r.IsMount, FaultAction.RefuseMount, times: 1);
        var path = $"v2/{target}/blobs/uploads/?mount={Uri.EscapeDataString(image.ConfigDigest.ToString())}&from={Uri.EscapeDataString(source)}";

        using var refused = await SendAsync(client, HttpMethod.Post, path, null, new ByteArrayContent([]));
        using var mounted = await SendAsync(client, HttpMethod.Post, path, null, new ByteArrayContent([]));
        using var cancelled = await SendAsync(client, HttpMethod.Delete, refused.Headers.Location!.ToString(), null);

        Assert.AreEqual(HttpStatusCode.Accepted, refused.StatusCode);
        StringAssert.StartsWith(refused.Headers.Location!.ToString(), $"{proxy.BaseUri}v2/{target}/blobs/uploads/");
        Assert.AreEqual(HttpStatusCode.Created, mounted.StatusCode);
        Assert.AreEqual(HttpStatusCode.NoContent, cancelled.StatusCode);
        var first = proxy.Exchanges[0];
        Assert.IsTrue(first.Request.IsMount);
        Assert.AreEqual(image.ConfigDigest.ToString(), first.Request.QueryValue("mount"));
        Assert.AreEqual(source, first.Request.QueryValue("from"));
        Assert.AreEqual(ProxyOutcome.Rewritten, first.Outcome);
        StringAssert.Contains(server.LogLinesContaining(target), $"\"POST /v2/{target}/blobs/uploads/ HTTP/1.1\" 202", "the registry saw a plain upload start");
    }

    [TestMethod]
    public async Task MediaTypeRejection_AnswersLikeARegistryThatDoesNotKnowTheType()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        proxy.When(r => r.Method == "PUT" && r.ContentType == MediaTypes.OciIndex, FaultAction.RegistryError(400, "MANIFEST_INVALID", "manifest invalid"));
        var content = new ByteArrayContent("{}"u8.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.OciIndex);

        using var response = await SendAsync(client, HttpMethod.Put, "v2/any/manifests/1", null, content);

        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(Cancel), "MANIFEST_INVALID");
        Assert.AreEqual("registry/2.0", response.Headers.GetValues("Docker-Distribution-Api-Version").Single());
        StringAssert.Contains(proxy.Transcript(), "PUT /v2/any/manifests/1 -> 400 [Answered: respond 400 MANIFEST_INVALID]");
    }

    [TestMethod]
    public async Task ExchangesSinceAMark_SeparateTheRunsOfATest()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        (await SendAsync(client, HttpMethod.Get, "v2/", null)).Dispose();
        var mark = proxy.Mark;
        (await SendAsync(client, HttpMethod.Head, "v2/", null)).Dispose();

        Assert.HasCount(2, proxy.Exchanges);
        Assert.AreEqual("HEAD", proxy.ExchangesSince(mark).Single().Method);
    }

    [TestMethod]
    public async Task RequestHeaders_AreRecordedForEveryExchange()
    {
        var server = await TestRegistries.Basic;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        var auth = await server.GetAuthorizationAsync("any/repo", "pull", Cancel);
        using var request = new HttpRequestMessage(HttpMethod.Get, "v2/");
        request.Headers.Authorization = auth;
        request.Headers.Add("X-Test", "one");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciIndex));
        (await client.SendAsync(request, Cancel)).Dispose();
        proxy.When(_ => true, FaultAction.Reset, times: 1);
        using var reset = new HttpRequestMessage(HttpMethod.Head, "v2/");
        reset.Headers.Add("X-Test", "two");
        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(reset, Cancel));

        var exchanges = proxy.Exchanges;
        Assert.AreEqual(auth!.ToString(), exchanges[0].Request.Headers["Authorization"]);
        Assert.AreEqual("one", exchanges[0].Request.Headers["X-Test"]);
        Assert.AreEqual(MediaTypes.OciIndex, exchanges[0].Request.Headers["Accept"]);
        Assert.AreEqual("registry/2.0", exchanges[0].Header("Docker-Distribution-Api-Version"), "response headers too");
        Assert.AreEqual("two", exchanges[1].Request.Headers["X-Test"], "a reset request is recorded as well");
    }

    [TestMethod]
    public async Task ExpireToken_MakesTheRegistryRefuseTheTokenWithItsOwnChallenge()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("proxy-expire");
        await SkopeoPusher.PushAsync(server, repository, "1", TestImages.Image(TestImages.LinuxAmd64, "expire"), Cancel);
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        var auth = await server.GetAuthorizationAsync(repository, "pull", Cancel);
        proxy.When(r => r.Path.EndsWith("/tags/list", StringComparison.Ordinal), FaultAction.ExpireToken, times: 1);

        using var expired = await SendAsync(client, HttpMethod.Get, $"v2/{repository}/tags/list", auth);
        using var fine = await SendAsync(client, HttpMethod.Get, $"v2/{repository}/tags/list", auth);

        Assert.AreEqual(HttpStatusCode.Unauthorized, expired.StatusCode);
        var challenge = expired.Headers.WwwAuthenticate.ToString();
        StringAssert.Contains(challenge, "error=\"invalid_token\"");
        StringAssert.Contains(challenge, $"realm=\"{server.TokenServer!.Realm}\"");
        Assert.AreEqual(HttpStatusCode.OK, fine.StatusCode);
        Assert.AreEqual(401, proxy.Exchanges[0].UpstreamStatus, "the registry itself refused it");
    }

    [TestMethod]
    public async Task RewriteRealm_PointsTheChallengeElsewhere_AndRedirect_AnswersWithALocation()
    {
        var server = await TestRegistries.Token;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        proxy.When(r => r.Path == "/v2/", FaultAction.RewriteRealm(realm => realm.Replace("http://127.0.0.1:", "https://localhost:", StringComparison.Ordinal)));
        proxy.When(r => r.IsBlob, FaultAction.Redirect(r => "http://127.0.0.1:9/storage" + r.Path, 307));

        using var challenged = await SendAsync(client, HttpMethod.Get, "v2/", null);
        using var redirected = await SendAsync(client, HttpMethod.Get, "v2/a/blobs/sha256:" + new string('0', 64), null);

        StringAssert.Contains(challenged.Headers.WwwAuthenticate.ToString(), $"realm=\"https://localhost:{server.TokenServer!.Realm.Port}/token\"");
        Assert.AreEqual(ProxyOutcome.Rewritten, proxy.Exchanges[0].Outcome);
        Assert.AreEqual(HttpStatusCode.TemporaryRedirect, redirected.StatusCode);
        Assert.AreEqual("http://127.0.0.1:9/storage/v2/a/blobs/sha256:" + new string('0', 64), redirected.Headers.Location!.ToString());
        Assert.IsNull(proxy.Exchanges[1].UpstreamStatus, "a redirect never reaches the registry");
    }

    [TestMethod]
    public async Task SlowBody_HeadersAtOnce_BodyTrickles_CutBody_EndsItEarly()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("proxy-slow");
        var image = TestImages.Image(TestImages.LinuxAmd64, "slow");
        await SkopeoPusher.PushAsync(server, repository, "1", image, Cancel);
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        var chunks = (image.Manifest.Length + 99) / 100;
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.SlowBody(TimeSpan.FromMilliseconds(600 / chunks), 100), times: 1);
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.CutBody(0.5), times: 1);

        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciManifest));
        var stopwatch = Stopwatch.StartNew();
        using (var slow = await client.GetAsync($"v2/{repository}/manifests/1", HttpCompletionOption.ResponseHeadersRead, Cancel))
        {
            var headers = stopwatch.Elapsed;
            CollectionAssert.AreEqual(image.Manifest, await slow.Content.ReadAsByteArrayAsync(Cancel));
            // Delays only grow on a busy machine: at least 500 ms of trickle after the headers proves that the headers
            // were sent before the body (had they waited for it, the body would follow them at once).
            Assert.IsGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(500), stopwatch.Elapsed - headers, "the headers come at once, then the body trickles");
        }

        using var cut = await client.GetAsync($"v2/{repository}/manifests/1", HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.AreEqual(image.Manifest.Length, cut.Content.Headers.ContentLength, "the full length is announced");
        await Assert.ThrowsAsync<HttpRequestException>(() => cut.Content.ReadAsByteArrayAsync(Cancel));
        var exchange = proxy.Exchanges[1];
        Assert.AreEqual(ProxyOutcome.BodyCut, exchange.Outcome);
        Assert.AreEqual(image.Manifest.Length / 2, exchange.BodyBytes);
    }

    [TestMethod]
    public async Task HugeBody_StopsWhenTheClientStopsReading()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ProxyClient(proxy);
        proxy.When(_ => true, FaultAction.HugeBody(500, long.MaxValue), times: 1);
        proxy.When(_ => true, FaultAction.HugeBody(500, 200_000, chunked: false), times: 1);

        using (var endless = await client.GetAsync("v2/", HttpCompletionOption.ResponseHeadersRead, Cancel))
        {
            Assert.AreEqual(HttpStatusCode.InternalServerError, endless.StatusCode);
            var stream = await endless.Content.ReadAsStreamAsync(Cancel);
            var buffer = new byte[64 * 1024];
            await stream.ReadAtLeastAsync(buffer, buffer.Length, cancellationToken: Cancel);
        }

        using var fixedLength = await client.GetAsync("v2/", Cancel);
        Assert.AreEqual(200_000, (await fixedLength.Content.ReadAsByteArrayAsync(Cancel)).Length);

        await WaitForAsync(() => proxy.Exchanges.Count == 2);
        Assert.IsLessThan(64L * 1024 * 1024, proxy.Exchanges[0].BodyBytes, "the endless body stopped when the client let go");
        Assert.AreEqual(ProxyOutcome.Failed, proxy.Exchanges[0].Outcome);
        Assert.AreEqual(200_000, proxy.Exchanges[1].BodyBytes);
    }

    [TestMethod]
    public async Task Https_ProxyHasItsOwnCa_TheDefaultClientRefusesIt()
    {
        var server = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartHttpsAsync(server, Cancel);
        Assert.AreEqual("https", proxy.BaseUri.Scheme);

        using (var trusting = new HttpClient(proxy.CreateTrustingHandler()) { BaseAddress = proxy.BaseUri })
        {
            using var response = await trusting.GetAsync("v2/", Cancel);
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        }

        using var plain = new HttpClient { BaseAddress = proxy.BaseUri };
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync("v2/", Cancel));
        Assert.AreEqual(HttpRequestError.SecureConnectionError, ex.HttpRequestError);
    }

    private async Task WaitForAsync(Func<bool> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.IsLessThan(TimeSpan.FromSeconds(10), stopwatch.Elapsed, "timed out waiting");
            await Task.Delay(20, Cancel);
        }
    }

    private static HttpClient ProxyClient(FaultProxy proxy) =>
        new(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = proxy.BaseUri, Timeout = TimeSpan.FromSeconds(30) };

    private async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string uri, AuthenticationHeaderValue? auth, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = content };
        request.Headers.Authorization = auth;
        return await client.SendAsync(request, Cancel);
    }

    private async Task UploadAsync(HttpClient client, string repository, byte[] bytes)
    {
        using var start = await SendAsync(client, HttpMethod.Post, $"v2/{repository}/blobs/uploads/", null, new ByteArrayContent([]));
        var location = start.Headers.Location!.ToString();
        using var put = await SendAsync(client, HttpMethod.Put, location + (location.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "digest=" + Uri.EscapeDataString(Digest.FromContent(bytes).ToString()), null, new ByteArrayContent(bytes));
        Assert.AreEqual(HttpStatusCode.Created, put.StatusCode);
    }

    private static ByteArrayContent Manifest(TestImage image)
    {
        var content = new ByteArrayContent(image.Manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue(image.MediaType);
        return content;
    }
}

using System.Globalization;
using System.Text.RegularExpressions;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// How the client rides out a registry that fails: 5xx, 408, 429 and resets on idempotent requests retried with
/// backoff up to 5 times, the 6th failure a coded error naming the request; <c>Retry-After</c> honoured in both forms up
/// to a limit, beyond it a fast failure naming the wait; no retry of uploads; bounded error and token bodies; a manifest
/// PUT whose answer was lost read back. Every fault comes from a <see cref="FaultProxy"/> in front of a real registry.
/// </summary>
[TestClass]
public sealed class RetryTests : RegistryTestBase
{
    private static RegistryServer s_server = null!;
    private static string s_repository = null!;
    private static TestImage s_image = null!;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        s_server = await TestRegistries.Open;
        s_repository = TestNames.Repository("retry");
        s_image = TestImages.Image(TestImages.LinuxAmd64, "retry");
        await SkopeoPusher.PushAsync(s_server, s_repository, "1", s_image, context.CancellationToken);
    }

    // ---------------------------------------------------------------- five survived, the sixth fails

    [TestMethod]
    [DataRow("500")]
    [DataRow("502")]
    [DataRow("503")]
    [DataRow("504")]
    [DataRow("408")]
    [DataRow("429")]
    [DataRow("reset")]
    [DataRow("reset-after")]
    [DataRow("cut-body")]
    public async Task FiveConsecutiveFailures_OnOneRequest_AreSurvived(string fault)
    {
        var proxy = await StartAsync();
        var log = new RecordingLog();
        using var client = ReliabilityKit.Client(proxy, log);
        proxy.When(r => r.Is("GET", "/manifests/"), Fault(fault), times: 5);

        var manifest = await client.GetManifestAsync(Reference(proxy), Cancel);

        Assert.AreEqual(s_image.Digest, manifest.Digest);
        var gets = proxy.ExchangesFor(r => r.Is("GET", "/manifests/"));
        Assert.HasCount(6, gets, proxy.Transcript());
        Assert.AreEqual(200, gets[^1].Status);
        Assert.HasCount(5, log.Lines.Where(l => l.Contains("retry ", StringComparison.Ordinal) && l.Contains(" of 5 in ", StringComparison.Ordinal)).ToList(), string.Join('\n', log.Lines));
    }

    [TestMethod]
    [DataRow("500", "the registry answered HTTP 500")]
    [DataRow("502", "the registry answered HTTP 502")]
    [DataRow("503", "the registry answered HTTP 503 (UNAVAILABLE: injected by the fault proxy)")]
    [DataRow("504", "the registry answered HTTP 504")]
    [DataRow("408", "the registry answered HTTP 408")]
    [DataRow("429", "the registry answered HTTP 429")]
    [DataRow("reset", "")]
    [DataRow("reset-after", "")]
    [DataRow("cut-body", "the response body broke off")]
    public async Task SixthConsecutiveFailure_IsMULTIARCH1015_NamingTheRequest(string fault, string reason)
    {
        var proxy = await StartAsync();
        using var client = ReliabilityKit.Client(proxy);
        proxy.When(r => r.Is("GET", "/manifests/"), Fault(fault));

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(Reference(proxy), Cancel));

        Assert.AreEqual("MULTIARCH1015", ex.Code, ex.ToString());
        StringAssert.Contains(ex.Message, $"GET http://{proxy.Host}/v2/{s_repository}/manifests/1 still failed after 6 attempts: {reason}");
        Assert.HasCount(6, proxy.ExchangesFor(r => r.Is("GET", "/manifests/")), proxy.Transcript());
    }

    [TestMethod]
    public async Task IdempotentWrites_PutManifestAndMount_AndHeads_AreRetriedToo()
    {
        var proxy = await StartAsync();
        var target = TestNames.Repository("retry-writes");
        using var client = ReliabilityKit.Client(proxy);
        proxy.When(r => r.IsMount, FaultAction.RegistryError(503, "UNAVAILABLE", "injected"), times: 5);
        proxy.When(r => r.Is("PUT", "/manifests/"), FaultAction.ResetAfterForwarding, times: 2);
        proxy.When(r => r.Is("PUT", "/manifests/"), FaultAction.RegistryError(502, "UNAVAILABLE", "injected"), times: 3);
        proxy.When(r => r.Method == "HEAD", FaultAction.RegistryError(500, "UNKNOWN", "injected"), times: 5);
        var manifest = await client.GetManifestAsync(Reference(proxy), Cancel);
        var into = ImageReference.Parse(proxy.Reference(target, "2"));

        foreach (var blob in s_image.Blobs)
        {
            Assert.IsTrue(await client.TryMountBlobAsync(into, blob.Digest, s_repository, Cancel));
        }

        await client.PutManifestAsync(into, manifest, Cancel);
        var head = await client.HeadManifestAsync(into, Cancel);

        Assert.AreEqual(s_image.Digest, head?.Digest);
        Assert.AreEqual(s_image.Digest.ToString(), await RegistryContent.ResolveAsync(s_server, target, "2", Cancel));
        Assert.HasCount(5 + s_image.Blobs.Count(), proxy.ExchangesFor(r => r.IsMount), proxy.Transcript());
        Assert.HasCount(6, proxy.ExchangesFor(r => r.Is("PUT", "/manifests/")), proxy.Transcript());
        Assert.HasCount(6, proxy.ExchangesFor(r => r.Method == "HEAD"), proxy.Transcript());
    }

    // ---------------------------------------------------------------- uploads are not retried by the HTTP layer

    [TestMethod]
    public async Task UploadRequests_AreNeverRetried_ByTheHttpLayer()
    {
        var proxy = await StartAsync();
        var target = TestNames.Repository("retry-upload");
        using var client = ReliabilityKit.Client(proxy);
        var into = ImageReference.Parse(proxy.Reference(target, "1"));
        proxy.When(r => r.Is("POST", "/blobs/uploads/"), FaultAction.RegistryError(503, "UNAVAILABLE", "injected"), times: 1);
        proxy.When(r => r.Is("PUT", "/blobs/uploads/"), FaultAction.Reset, times: 1);
        var config = s_image.Blobs.First();

        var post = await Assert.ThrowsAsync<MultiArchException>(() => client.UploadBlobAsync(into, config.Bytes, Cancel));
        var put = await Assert.ThrowsAsync<MultiArchException>(() => client.CopyBlobAsync(Reference(proxy), into, new Descriptor("application/octet-stream", config.Digest, config.Bytes.Length), Cancel));

        Assert.AreEqual("MULTIARCH1006", post.Code, post.Message);
        StringAssert.Contains(post.Message, "HTTP 503");
        Assert.AreEqual("MULTIARCH1001", put.Code, put.Message);
        Assert.HasCount(2, proxy.ExchangesFor(r => r.Is("POST", "/blobs/uploads/")), "one POST each: the failed one was not sent again\n" + proxy.Transcript());
        Assert.HasCount(1, proxy.ExchangesFor(r => r.Is("PUT", "/blobs/uploads/")), "the streamed PUT was not sent again\n" + proxy.Transcript());
        Assert.IsNull(await RegistryContent.GetBlobAsync(s_server, target, config.Digest, Cancel));
    }

    [TestMethod]
    public async Task UploadSessionThatFailsToStart_TheCopyIsStartedAgain_ByThePublisher()
    {
        var proxy = await StartAsync();
        var target = TestNames.Repository("retry-copy");
        proxy.When(r => r.IsMount, FaultAction.RefuseMount);
        proxy.When(r => r.Method == "POST" && r.IsUpload && !r.IsMount, FaultAction.RegistryError(503, "UNAVAILABLE", "injected"), times: 1);
        proxy.When(r => r.Method == "POST" && r.IsUpload && !r.IsMount, FaultAction.Reset, times: 1);
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {proxy.Reference(s_repository, "1")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel, s => s with { RetryBaseDelay = ReliabilityKit.FastRetry });

        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(s_server, target, "1.0", Cancel));
        foreach (var blob in s_image.Blobs)
        {
            CollectionAssert.AreEqual(blob.Bytes, await RegistryContent.GetBlobAsync(s_server, target, blob.Digest, Cancel));
        }
    }

    // ---------------------------------------------------------------- Retry-After

    [TestMethod]
    public async Task RetryAfterInSeconds_IsWaited()
    {
        var proxy = await StartAsync();
        var log = new RecordingLog();
        using var client = ReliabilityKit.Client(proxy, log);
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.RetryAfter(429, TimeSpan.FromSeconds(1)), times: 1);

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(Reference(proxy), Cancel));

        Assert.IsNull(error, error?.ToString());
        Assert.IsGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(950), elapsed, "Retry-After: 1 was honoured (the backoff alone is 5 ms)");
        Assert.IsLessThan(TimeSpan.FromSeconds(20), elapsed, "a generous bound: the machine may be busy");
        Assert.IsTrue(log.Lines.Any(l => l.Contains("failed (HTTP 429); retry 1 of 5 in 1000 ms (Retry-After)", StringComparison.Ordinal)), string.Join('\n', log.Lines));
    }

    [TestMethod]
    public async Task RetryAfterAsAnHttpDate_IsWaited()
    {
        var proxy = await StartAsync();
        var log = new RecordingLog();
        using var client = ReliabilityKit.Client(proxy, log);
        // Two seconds ahead, written to the second: between one and two seconds from when the client reads it.
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.Custom("503 with Retry-After: date", context => FaultAction.RetryAfter(503, DateTimeOffset.UtcNow.AddSeconds(2)).RunAsync(context)), times: 1);

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(Reference(proxy), Cancel));

        Assert.IsNull(error, error?.ToString());
        Assert.IsGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(900), elapsed, "the date was honoured (the backoff alone is 5 ms)");
        Assert.IsLessThan(TimeSpan.FromSeconds(20), elapsed, "a generous bound: the machine may be busy");
        Assert.IsTrue(log.Lines.Any(l => l.Contains("failed (HTTP 503); retry 1 of 5 in ", StringComparison.Ordinal) && l.EndsWith("(Retry-After).", StringComparison.Ordinal)), string.Join('\n', log.Lines));
    }

    [TestMethod]
    [DataRow("seconds")]
    [DataRow("date")]
    public async Task RetryAfterBeyondTheLimit_FailsFast_SayingHowLongTheRegistryAskedToWait(string form)
    {
        var proxy = await StartAsync();
        using var client = ReliabilityKit.Client(proxy, configure: s => s with { MaxRetryAfter = TimeSpan.FromSeconds(1) });
        proxy.When(r => r.Is("GET", "/manifests/"), form == "seconds"
            ? FaultAction.RetryAfter(429, TimeSpan.FromSeconds(30))
            : FaultAction.Custom("429 with Retry-After: date", context => FaultAction.RetryAfter(429, DateTimeOffset.UtcNow.AddSeconds(120)).RunAsync(context)));

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(Reference(proxy), Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected a MultiArchException, got {error}");
        Assert.AreEqual("MULTIARCH1013", ex.Code, ex.Message);
        Assert.IsLessThan(TimeSpan.FromSeconds(15), elapsed, "no waiting: not the 30 s (or 120 s) asked for");
        var wait = int.Parse(Regex.Match(ex.Message, "asked to wait (\\d+) s before GET /v2/" + Regex.Escape(s_repository) + "/manifests/1, longer than the 1 s this build waits").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.IsTrue(form == "seconds" ? wait == 30 : wait is >= 118 and <= 120, ex.Message);
        Assert.HasCount(1, proxy.Exchanges);
    }

    // ---------------------------------------------------------------- bounded bodies

    [TestMethod]
    [DataRow(404, true)]
    [DataRow(403, false)]
    public async Task ErrorBody_IsReadNoFurtherThan64KiB(int status, bool endless)
    {
        var proxy = await StartAsync();
        using var client = ReliabilityKit.Client(proxy);
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.HugeBody(status, endless ? long.MaxValue : 10 * 1024 * 1024, chunked: endless));

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(Reference(proxy), Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected a MultiArchException, got {error}");
        Assert.AreEqual(status == 404 ? "MULTIARCH2003" : "MULTIARCH1005", ex.Code, ex.Message);
        Assert.IsLessThan(TimeSpan.FromSeconds(60), elapsed, "the endless body was not read to its end");
        await WaitForAsync(() => proxy.Exchanges.Count(e => e.Request.IsManifest) == 1);
        var sent = proxy.ExchangesFor(r => r.IsManifest).Single().BodyBytes;
        Assert.IsLessThan(8L * 1024 * 1024, sent, $"the client stopped reading ({sent} bytes left the proxy, socket buffers included)");
    }

    [TestMethod]
    public async Task ManifestOver4MiB_WithoutContentLength_IsRefusedAtTheLimit()
    {
        var proxy = await StartAsync();
        using var client = ReliabilityKit.Client(proxy);
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.HugeBody(200, long.MaxValue, chunked: true, MediaTypes.OciManifest));

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(Reference(proxy), Cancel));

        Assert.AreEqual("MULTIARCH2006", ex.Code, ex.Message);
        await WaitForAsync(() => proxy.Exchanges.Count == 1);
        Assert.IsLessThan(16L * 1024 * 1024, proxy.Exchanges.Single().BodyBytes);
    }

    [TestMethod]
    public async Task TokenServiceFailures_AreRetried_TheSixthIsMULTIARCH1009()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("retry-token");
        await SkopeoPusher.PushAsync(server, repository, "1", s_image, Cancel);
        var proxy = await StartAsync(server);
        var tokens = await ReliabilityKit.ProxyTokenServiceAsync(proxy, cancellationToken: Cancel);
        Resources.Add(tokens);
        tokens.When(_ => true, FaultAction.RegistryError(503, "UNAVAILABLE", "injected"), times: 3);
        tokens.When(_ => true, FaultAction.Reset, times: 2);

        using (var client = ReliabilityKit.Client(proxy))
        {
            var manifest = await client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1")), Cancel);
            Assert.AreEqual(s_image.Digest, manifest.Digest);
        }

        Assert.AreEqual(1, tokens.Exchanges.Count(e => e.Status == 200), tokens.Transcript());
        tokens.When(_ => true, FaultAction.RegistryError(502, "UNAVAILABLE", "injected"));
        using var failing = ReliabilityKit.Client(proxy);
        var ex = await Assert.ThrowsAsync<MultiArchException>(() => failing.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1")), Cancel));
        Assert.AreEqual("MULTIARCH1009", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, "HTTP 502 after 6 attempts");
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public async Task TokenResponseOver64KiB_IsRefused(bool endless)
    {
        var server = await TestRegistries.Token;
        var proxy = await StartAsync(server);
        var tokens = await ReliabilityKit.ProxyTokenServiceAsync(proxy, cancellationToken: Cancel);
        Resources.Add(tokens);
        tokens.When(_ => true, FaultAction.HugeBody(200, endless ? long.MaxValue : 65 * 1024, chunked: endless, "application/json"));
        using var client = ReliabilityKit.Client(proxy);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(proxy.Reference(TestNames.Repository("retry-token-huge"), "1")), Cancel));

        Assert.AreEqual("MULTIARCH1009", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, "the token response is larger than 64 KiB");
        await WaitForAsync(() => tokens.Exchanges.Count == 1);
        Assert.IsLessThan(8L * 1024 * 1024, tokens.Exchanges.Single().BodyBytes);
    }

    // ---------------------------------------------------------------- a PUT whose answer was lost

    [TestMethod]
    public async Task ManifestPutAppliedButNeverAnswered_IsReadBack_AndSucceeds()
    {
        var proxy = await StartAsync();
        var target = TestNames.Repository("retry-put-applied");
        var log = new RecordingLog();
        using var client = ReliabilityKit.Client(proxy, log);
        var manifest = await client.GetManifestAsync(Reference(proxy), Cancel);
        await MountAllAsync(client, proxy, target);
        proxy.When(r => r.Is("PUT", "/manifests/"), FaultAction.ResetAfterForwarding);

        await client.PutManifestAsync(ImageReference.Parse(proxy.Reference(target, "1")), manifest, Cancel);

        Assert.AreEqual(s_image.Digest.ToString(), await RegistryContent.ResolveAsync(s_server, target, "1", Cancel));
        Assert.HasCount(6, proxy.ExchangesFor(r => r.Is("PUT", "/manifests/")));
        Assert.IsTrue(log.Lines.Any(l => l.Contains("but the registry applied it", StringComparison.Ordinal)), string.Join('\n', log.Lines));
    }

    [TestMethod]
    public async Task ManifestPutNeverApplied_IsMULTIARCH1019_SayingWhatReadingItBackFound()
    {
        var proxy = await StartAsync();
        var target = TestNames.Repository("retry-put-lost");
        using var client = ReliabilityKit.Client(proxy);
        var manifest = await client.GetManifestAsync(Reference(proxy), Cancel);
        await MountAllAsync(client, proxy, target);
        proxy.When(r => r.Is("PUT", "/manifests/"), FaultAction.Reset);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.PutManifestAsync(ImageReference.Parse(proxy.Reference(target, "1")), manifest, Cancel));

        // A reset looks the same to the client whether the registry applied the PUT or never saw it: the outcome is
        // unknown, and the message says what reading the tag back found.
        Assert.AreEqual("MULTIARCH1019", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, "(MULTIARCH1015: PUT ");
        StringAssert.Contains(ex.Message, "; reading it back found nothing there. ");
        Assert.IsNull(await RegistryContent.ResolveAsync(s_server, target, "1", Cancel));
    }

    [TestMethod]
    public async Task ManifestPutUnconfirmedAndUnreadable_IsMULTIARCH1019_NamingBothOutcomes()
    {
        var proxy = await StartAsync();
        var target = TestNames.Repository("retry-put-unknown");
        using var client = ReliabilityKit.Client(proxy);
        var manifest = await client.GetManifestAsync(Reference(proxy), Cancel);
        await MountAllAsync(client, proxy, target);
        proxy.When(r => r.Is("PUT", "/manifests/"), FaultAction.ResetAfterForwarding);
        proxy.When(r => r.Is("HEAD", "/manifests/"), FaultAction.RegistryError(503, "UNAVAILABLE", "injected"));

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.PutManifestAsync(ImageReference.Parse(proxy.Reference(target, "1")), manifest, Cancel));

        Assert.AreEqual("MULTIARCH1019", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, $"{proxy.Reference(target, "1")} now points either where it did before or at {s_image.Digest}");
        StringAssert.Contains(ex.Message, "; reading it back failed too (MULTIARCH1015: HEAD ");
        Assert.AreEqual(s_image.Digest.ToString(), await RegistryContent.ResolveAsync(s_server, target, "1", Cancel), "it was applied: the message said it may have been");
    }

    private static FaultAction Fault(string fault) => fault switch
    {
        "reset" => FaultAction.Reset,
        "reset-after" => FaultAction.ResetAfterForwarding,
        "cut-body" => FaultAction.CutBody(0.5),
        _ => FaultAction.RegistryError(int.Parse(fault, CultureInfo.InvariantCulture), "UNAVAILABLE", "injected by the fault proxy"),
    };

    private static ImageReference Reference(FaultProxy proxy) => ImageReference.Parse(proxy.Reference(s_repository, "1"));

    private async Task MountAllAsync(RegistryClient client, FaultProxy proxy, string target)
    {
        foreach (var blob in s_image.Blobs)
        {
            Assert.IsTrue(await client.TryMountBlobAsync(ImageReference.Parse(proxy.Reference(target, "1")), blob.Digest, s_repository, Cancel));
        }
    }

    private Task<FaultProxy> StartAsync(RegistryServer? server = null) => ProxyAsync(server ?? s_server);

    private async Task WaitForAsync(Func<bool> condition)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.IsLessThan(TimeSpan.FromSeconds(10), stopwatch.Elapsed, "timed out waiting for the proxy's record");
            await Task.Delay(20, Cancel);
        }
    }
}

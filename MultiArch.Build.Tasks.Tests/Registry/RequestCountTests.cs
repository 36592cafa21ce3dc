using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// Issue 6's budget, pinned: how many requests each operation makes and how many round trips it waits for one after
/// the other (<see cref="RoundTrips"/>), through a <see cref="FaultProxy"/> that delays every request, so that a
/// request that could have gone side by side with another and did not shows up as a deeper chain. The tasks run as
/// MSBuild runs them. Scenarios a–d are the issue's (N platforms, T extra tags):
/// a. inspect a 10-platform index with its child manifests; b/c. push 3/10 sources from the target's own repository,
/// T = 2; d. push 10 sources from 10 other repositories into a new one; and issue 13's e. push 50 sources from the
/// target's own repository, T = 2.
/// </summary>
/// <remarks>
/// The counts are exact, so a regression (or an improvement) shows here first; the depths are upper bounds, and a
/// chain found deeper than allowed is measured again (a busy machine can only make a chain look longer, never
/// shorter). Every request is delayed by <see cref="Latency"/>.
/// </remarks>
[TestClass]
public sealed class RequestCountTests : RegistryTestBase
{
    /// <summary>Long against the client's own work between two requests, short enough to keep the class fast.</summary>
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(75);

    private static readonly IReadOnlyList<Platform> TenPlatforms =
    [
        .. new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/mips64le", "linux/loong64" }.Select(Platform.Parse),
    ];

    // ---------------------------------------------------------------- the measure itself

    [TestMethod]
    public void SequentialDepth_IsTheLongestChainOfRequestsEachStartingAfterThePreviousEnded()
    {
        // 1 and 2 side by side; 3 and 4 each after both, overlapping each other; 5 after 4 (not after 3, which ends later).
        var log = new[] { Exchange(1, 0, 10), Exchange(2, 1, 9), Exchange(3, 10, 26), Exchange(4, 12, 25), Exchange(5, 25, 30) };

        Assert.AreEqual(3, RoundTrips.SequentialDepth(log));
        CollectionAssert.AreEqual(new[] { 1, 4, 5 }, RoundTrips.LongestChain(log).Select(e => e.Sequence).ToArray());
        Assert.AreEqual(0, RoundTrips.SequentialDepth([]));
        Assert.AreEqual(1, RoundTrips.SequentialDepth(log.Take(2)));
    }

    // ---------------------------------------------------------------- a. inspect

    [TestMethod]
    public async Task A_InspectTenPlatformIndex_GetsTheIndexThenEveryChildSideBySide()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("count-a");
        await PushTestKit.SeedDirectAsync(server, repository, "1.0", TestImages.Index(TenPlatforms, "count-a"), Cancel);
        // GET the index, then the 10 child manifests at once: 11 requests, 2 round trips (goal: 12, 3).
        var exchanges = await MeasureAsync(proxy, "a. inspect 10-platform index", requests: 11, maxDepth: 2, async _ =>
        {
            var engine = new FakeBuildEngine();
            var task = new InspectImageManifest { BuildEngine = engine, Environment = TestClients.Lookup(TestClients.Environment(proxy)), Image = proxy.Reference(repository, "1.0") };
            Assert.IsTrue(await Task.Run(task.Execute), engine.AllText);
        });
        Assert.IsTrue(exchanges.All(e => e.Method == "GET" && e.Request.IsManifest));
    }

    // ---------------------------------------------------------------- b/c. the target's own repository

    [TestMethod]
    [DataRow(3, true, 10, 3, DisplayName = "b. 3 sources, T=2, VerifyPlatforms=true: 10 requests, 3 deep")]
    [DataRow(3, false, 7, 2, DisplayName = "b. 3 sources, T=2, VerifyPlatforms=false: 7 requests, 2 deep")]
    [DataRow(10, true, 24, 3, DisplayName = "c. 10 sources, T=2, VerifyPlatforms=true: 24 requests, 3 deep")]
    [DataRow(10, false, 14, 2, DisplayName = "c. 10 sources, T=2, VerifyPlatforms=false: 14 requests, 2 deep")]
    public async Task BC_SameRepository_ReadsEachSourceOnce_ChecksOneTag_WritesEveryTagAtOnce(int n, bool verify, int requests, int maxDepth)
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("count-bc");
        var images = TenPlatforms.Take(n).Select(p => TestImages.Image(p, "count-bc")).ToList();
        await PushTestKit.SeedDirectAsync(server, Cancel, [.. images.Select(i => (repository, (string?)SourceTag(i.Platform), i))]);
        // N GET manifests (+ N GET configs to verify), 1 GET of the first tag side by side with them, then the 3 tag
        // PUTs together. Same repository: nothing to check or copy.
        var exchanges = await MeasureAsync(proxy, $"{(n == 3 ? "b" : "c")}. same repository, N={n}, T=2, verify={verify}", requests, maxDepth, attempt =>
            PushAsync(proxy, proxy.Reference(repository, $"1.0-{attempt}"), $"1-{attempt};latest-{attempt}", verify, images.Select(i => Item(i.Platform, proxy.Reference(repository, SourceTag(i.Platform))))));
        Assert.AreEqual(n, exchanges.Count(e => e.Method == "GET" && e.Request.IsManifest && e.Request.Path.Contains("/manifests/src-", StringComparison.Ordinal)));
        Assert.AreEqual(verify ? n : 0, exchanges.Count(e => e.Method == "GET" && e.Request.IsBlob));
        Assert.AreEqual(3, exchanges.Count(e => e.Method == "PUT"));
        Assert.AreEqual(0, exchanges.Count(e => e.Method == "HEAD"));
    }

    [TestMethod]
    [DataRow(50, DisplayName = "e. 50 sources, T=2: 104 requests, 3 deep")]
    [DataRow(100, DisplayName = "100 sources, T=2: 204 requests, 3 deep")]
    public async Task E_ManySources_ThreeRoundTripsDeep_WithinTheDefaultParallelism(int n)
    {
        // 104 requests, 51 at once: on a loaded machine their arrival spreads over a few hundred milliseconds, and with the
        // usual latency independent config reads would line up into chains that look like extra rounds. A latency above
        // that spread keeps the measured depth the causal one.
        var (server, proxy) = await StartAsync(latency: TimeSpan.FromMilliseconds(600));
        var repository = TestNames.Repository("count-e");
        var platforms = new[] { "linux", "freebsd", "netbsd", "openbsd", "solaris", "aix", "illumos", "dragonfly", "plan9", "android" }
            .SelectMany(os => TenPlatforms.Select(p => p with { Os = os })).Take(n).ToList();
        var images = platforms.Select(p => TestImages.Image(p, "count-e")).ToList();
        await PushTestKit.SeedDirectAsync(server, Cancel, [.. images.Select(i => (repository, (string?)SourceTag(i.Platform), i))]);
        // N GET manifests and the GET of the first tag at once (within the default parallelism, so no second round),
        // each config read as soon as its manifest is in, then the three tags together: 2N + 4, 3 deep.
        var exchanges = await MeasureAsync(proxy, $"e. same repository, N={n}, T=2, verify=true", 2 * n + 4, 3, attempt =>
            PushAsync(proxy, proxy.Reference(repository, $"1.0-{attempt}"), $"1-{attempt};latest-{attempt}", verify: true, images.Select(i => Item(i.Platform, proxy.Reference(repository, SourceTag(i.Platform))))));
        Assert.AreEqual(n, exchanges.Count(e => e.Method == "GET" && e.Request.IsBlob));
    }

    [TestMethod]
    public async Task B_RePush_WritesNothing_AndChecksTheOtherTagsOnlyBecauseTheFirstIsUnchanged()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("count-b-again");
        var images = TenPlatforms.Take(3).Select(p => TestImages.Image(p, "count-b-again")).ToList();
        await PushTestKit.SeedDirectAsync(server, Cancel, [.. images.Select(i => (repository, (string?)SourceTag(i.Platform), i))]);
        var items = images.Select(i => Item(i.Platform, proxy.Reference(repository, SourceTag(i.Platform)))).ToList();
        await PushAsync(proxy, proxy.Reference(repository, "1.0"), "1;latest", verify: false, items);

        // 3 GET sources + GET 1.0 (this very index), then HEAD 1 and latest: 6 requests, no write.
        var exchanges = await MeasureAsync(proxy, "b. re-push, verify=false", requests: 6, maxDepth: 2, _ =>
            PushAsync(proxy, proxy.Reference(repository, "1.0"), "1;latest", verify: false, items));
        Assert.IsEmpty(exchanges.Where(e => e.Request.IsWrite).ToList(), proxy.Transcript());
    }

    // ---------------------------------------------------------------- d. other repositories

    [TestMethod]
    [DataRow(true, 52, 4, DisplayName = "d. 10 sources from 10 repositories, VerifyPlatforms=true: 52 requests, 4 deep")]
    [DataRow(false, 42, 4, DisplayName = "d. 10 sources from 10 repositories, VerifyPlatforms=false: 42 requests, 4 deep")]
    public async Task D_OtherRepositories_MountEachBlobWithoutAHeadFirst_ThenPutEachChild_ThenTheTag(bool verify, int requests, int maxDepth)
    {
        var (server, proxy) = await StartAsync();
        var prefix = TestNames.Repository("count-d");
        var images = TenPlatforms.Select(p => TestImages.Image(p, "count-d")).ToList();
        await PushTestKit.SeedDirectAsync(server, Cancel, [.. images.Select(i => (SourceRepository(prefix, i.Platform), (string?)"1", i))]);
        // N GET manifests (+ N configs), GET of the tag (404); 2 mounts per child (no HEAD first: a mount is its own
        // check) as soon as its manifest is read, side by side with its config read; N child PUTs, 1 tag PUT.
        var exchanges = await MeasureAsync(proxy, $"d. 10 other repositories into a new one, verify={verify}", requests, maxDepth, attempt =>
            PushAsync(proxy, proxy.Reference($"{prefix}-target-{attempt}", "1.0"), tags: null, verify, images.Select(i => Item(i.Platform, proxy.Reference(SourceRepository(prefix, i.Platform), "1")))));
        Assert.AreEqual(20, exchanges.Count(e => e.Request.IsMount && e.Status == 201));
        Assert.AreEqual(0, exchanges.Count(e => e.Method == "HEAD"));
        Assert.AreEqual(0, exchanges.Count(e => e.Request.IsUpload && !e.Request.IsMount), "nothing streamed");
    }

    [TestMethod]
    public async Task D_RePush_ReadsTheSourcesAndTheTag_AndStops()
    {
        var (server, proxy) = await StartAsync();
        var prefix = TestNames.Repository("count-d-again");
        var images = TenPlatforms.Take(4).Select(p => TestImages.Image(p, "count-d-again")).ToList();
        await PushTestKit.SeedDirectAsync(server, Cancel, [.. images.Select(i => (SourceRepository(prefix, i.Platform), (string?)"1", i))]);
        var items = images.Select(i => Item(i.Platform, proxy.Reference(SourceRepository(prefix, i.Platform), "1"))).ToList();
        await PushAsync(proxy, proxy.Reference(prefix + "-target", "1.0"), tags: null, verify: false, items);

        // The tag's index lists every child: no check, no mount, no PUT. N GET sources + 1 GET tag, side by side.
        var exchanges = await MeasureAsync(proxy, "d. re-push (N=4), verify=false", requests: 5, maxDepth: 1, _ =>
            PushAsync(proxy, proxy.Reference(prefix + "-target", "1.0"), tags: null, verify: false, items));
        Assert.IsTrue(exchanges.All(e => e.Method == "GET"), proxy.Transcript());
    }

    [TestMethod]
    public async Task IndexSourceInTheTargetRepository_IsReadOnce_ItsChildrenAreThere()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("count-index-source");
        var index = TestImages.Index(TenPlatforms.Take(4), "count-index-source", withAttestation: true);
        await PushTestKit.SeedDirectAsync(server, repository, "multi", index, Cancel);
        // GET the source index and the tag side by side, PUT the tag: the children are listed by an index in this very
        // repository, so neither their manifests nor a check are needed.
        await MeasureAsync(proxy, "index source in the target repository (4 images + 1 attestation)", requests: 3, maxDepth: 2, async attempt =>
        {
            var spec = $"""
                image: {proxy.Reference(repository, $"1.0-{attempt}")}
                manifests:
                  - image: {proxy.Reference(repository, "multi")}
                """;
            var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);
            Assert.HasCount(5, result.Index.Manifests);
        });
    }

    // ---------------------------------------------------------------- publish outputs

    [TestMethod]
    public async Task PublishOutputs_NeedAtMost_N_Plus_1_Plus_T_Requests()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("count-outputs");
        var images = TenPlatforms.Take(3).Select(p => TestImages.Image(p, "count-outputs")).ToList();
        await PushTestKit.SeedDirectAsync(server, Cancel, [.. images.Select(i => (repository, (string?)SourceTag(i.Platform), i))]);
        // What _MultiArchPublishPlatform returns for each platform: the SDK's digest, media type, manifest and config.
        var items = images.Select(i => Item(i.Platform, proxy.Reference(repository, SourceTag(i.Platform)),
            ("ManifestDigest", i.Digest.ToString()), ("ManifestMediaType", i.MediaType), ("Manifest", System.Text.Encoding.UTF8.GetString(i.Manifest)),
            ("Configuration", System.Text.Encoding.UTF8.GetString(i.Config)))).ToList();

        // Nothing to read about the images: GET the first tag, then PUT the three tags together. N + 1 + T = 6 at most.
        var exchanges = await MeasureAsync(proxy, "publish outputs, N=3, T=2, verify=true", requests: 4, maxDepth: 2, attempt =>
            PushAsync(proxy, proxy.Reference(repository, $"1.0-{attempt}"), $"1-{attempt};latest-{attempt}", verify: true, items));
        Assert.IsLessThanOrEqualTo(3 + 1 + 2, exchanges.Count);
    }

    // ---------------------------------------------------------------- tokens, schemes

    [TestMethod]
    public async Task TokenRegistry_OneTokenPerScopeForTheWholeBuild_SharedBetweenTasks()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Token);
        var repository = TestNames.Repository("count-token");
        var images = TenPlatforms.Take(3).Select(p => TestImages.Image(p, "count-token")).ToList();
        await PushTestKit.SeedDirectAsync(server, Cancel, [.. images.Select(i => (repository, (string?)SourceTag(i.Platform), i))]);
        var tokensBefore = server.TokenServer!.RequestsFor(repository).Count;
        var engine = new FakeBuildEngine();
        var environment = TestClients.Lookup(TestClients.Environment(proxy));

        var push = new PushManifestList
        {
            BuildEngine = engine,
            Environment = environment,
            Target = proxy.Reference(repository, "1.0"),
            Tags = "latest",
            Sources = [.. images.Select(i => Item(i.Platform, proxy.Reference(repository, SourceTag(i.Platform))))],
        };
        Assert.IsTrue(await Task.Run(push.Execute), engine.AllText);
        var mark = proxy.Mark;
        var inspect = new InspectImageManifest { BuildEngine = engine, Environment = environment, Image = proxy.Reference(repository, "1.0") };
        Assert.IsTrue(await Task.Run(inspect.Execute), engine.AllText);

        var tokens = server.TokenServer.RequestsFor(repository).Skip(tokensBefore).ToList();
        var perScope = tokens.GroupBy(t => string.Join(' ', t.Scopes.Order(StringComparer.Ordinal))).ToList();
        Assert.IsTrue(perScope.All(g => g.Count() == 1), string.Join('\n', perScope.Select(g => $"{g.Count()}x {g.Key}")));

        // The inspect task, second in the build, knows the challenge and holds the tokens it needs: no 401, no token request.
        Assert.IsEmpty(proxy.ExchangesSince(mark).Where(e => e.Status == 401).ToList(), proxy.Transcript());
        Assert.AreEqual(tokens.Count, server.TokenServer.RequestsFor(repository).Count - tokensBefore, "the inspect asked for no token");
        TestContext.WriteLine($"token requests for the push and the inspect: {tokens.Count} ({string.Join("; ", perScope.Select(g => g.Key))})");
    }

    [TestMethod]
    public async Task LoopbackInsecureRegistry_IsSpokenToInPlainHttpAtOnce_WithoutATlsProbe()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("count-probe");
        await PushTestKit.SeedDirectAsync(server, repository, "1.0", TestImages.Index(TenPlatforms.Take(3), "count-probe"), Cancel);
        var mark = proxy.Mark;
        var log = new RecordingLog();
        using var client = new RegistryClient(RegistrySettings.FromEnvironment(TestClients.Lookup(TestClients.Environment(proxy)), log));

        var root = (ImageIndex)await client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1.0")), Cancel);
        await Task.WhenAll(root.Manifests.Select(d => client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, d.Digest.ToString())), Cancel)));

        // Every request the client sent reached the proxy as HTTP: none was a TLS handshake thrown away.
        Assert.AreEqual(client.RequestCount, proxy.ExchangesSince(mark).Count, string.Join('\n', log.Lines));
        Assert.IsFalse(log.Lines.Any(l => l.Contains("TLS", StringComparison.Ordinal)), string.Join('\n', log.Lines));
    }

    [TestMethod]
    public async Task Localhost_IsSpokenToInPlainHttpAtOnce_ThoughNotListed()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("count-probe-localhost");
        await PushTestKit.SeedDirectAsync(server, repository, "1.0", TestImages.Index(TenPlatforms.Take(3), "count-probe-localhost"), Cancel);
        var mark = proxy.Mark;
        var log = new RecordingLog();
        var environment = TestClients.Environment(proxy);
        environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment), log);
        using var client = new RegistryClient(settings);

        // localhost is always insecure: the requests built before its scheme was known go out in plain HTTP as well.
        var reference = ImageReference.Parse($"localhost:{proxy.Port}/{repository}:1.0");
        var root = (ImageIndex)await client.GetManifestAsync(reference, Cancel);
        await Task.WhenAll(root.Manifests.Select(d => client.GetManifestAsync(reference.WithDigest(d.Digest), Cancel)));

        Assert.AreEqual(client.RequestCount, proxy.ExchangesSince(mark).Count, string.Join('\n', log.Lines));
        Assert.AreEqual("http", settings.State.GetScheme($"localhost:{proxy.Port}"));
    }

    [TestMethod]
    public async Task LoopbackRegistryListedInsecure_ThatSpeaksTls_IsStillReached()
    {
        var server = await TestRegistries.Tls;
        var repository = TestNames.Repository("count-probe-tls");
        await PushTestKit.SeedDirectAsync(server, repository, "1.0", TestImages.Index(TenPlatforms.Take(2), "count-probe-tls"), Cancel);
        var environment = TestClients.Environment(server);
        environment["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = server.Host;
        var log = new RecordingLog();
        var settings = TestClients.Settings(server, environment, log);
        using var client = new RegistryClient(settings);

        var reference = ImageReference.Parse(server.Reference(repository, "1.0"));
        var root = (ImageIndex)await client.GetManifestAsync(reference, Cancel);
        await Task.WhenAll(root.Manifests.Select(d => client.GetManifestAsync(reference.WithDigest(d.Digest), Cancel)));

        // One plain-HTTP attempt (counted), answered "HTTP request to an HTTPS server"; TLS from then on.
        Assert.AreEqual("https", settings.State.GetScheme(server.Host));
        Assert.AreEqual(1, log.Lines.Count(l => l.Contains("answered plain HTTP as a TLS server does", StringComparison.Ordinal)), string.Join('\n', log.Lines));
        Assert.AreEqual(root.Manifests.Length + 2, client.RequestCount);
    }

    // ---------------------------------------------------------------- helpers

    private async Task<(RegistryServer Server, FaultProxy Proxy)> StartAsync(RegistryMode mode = RegistryMode.Open, TimeSpan? latency = null)
    {
        var server = await TestRegistries.Get(mode);
        var proxy = await FaultProxy.StartAsync(server, Cancel);
        proxy.When(_ => true, FaultAction.Delay(latency ?? Latency), name: "latency");
        Resources.Add(proxy);
        return (server, proxy);
    }

    /// <summary>
    /// Runs an operation (<paramref name="run"/>, given the attempt number for fresh tags or repositories) and asserts
    /// its exact request count and its depth bound, and reports both. A busy machine (the suite runs classes side by
    /// side, some of them building) can stall the test process long enough to make a chain look longer, never
    /// shorter: a chain deeper than allowed is measured again, up to three times, and the shallowest counts.
    /// </summary>
    private async Task<IReadOnlyList<ProxyExchange>> MeasureAsync(FaultProxy proxy, string scenario, int requests, int maxDepth, Func<int, Task> run)
    {
        IReadOnlyList<ProxyExchange> best = [];
        var bestDepth = int.MaxValue;
        for (var attempt = 1; attempt <= 3 && bestDepth > maxDepth; attempt++)
        {
            var mark = proxy.Mark;
            await run(attempt);
            var exchanges = proxy.ExchangesSince(mark);
            var depth = RoundTrips.SequentialDepth(exchanges);
            TestContext.WriteLine($"{scenario}, attempt {attempt}: {exchanges.Count} requests, depth {depth}; {proxy.Counts(mark)}");
            Assert.AreEqual(requests, exchanges.Count, $"{scenario}\n{proxy.Transcript(e => e.Sequence >= mark)}");
            if (depth < bestDepth)
            {
                (best, bestDepth) = (exchanges, depth);
            }
        }

        Assert.IsLessThanOrEqualTo(maxDepth, bestDepth, $"{scenario}: the longest chain\n{RoundTrips.Describe(best)}");
        return best;
    }

    private static async Task PushAsync(FaultProxy proxy, string target, string? tags, bool verify, IEnumerable<ITaskItem> sources)
    {
        var engine = new FakeBuildEngine();
        var task = new PushManifestList
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Target = target,
            Tags = tags,
            VerifyPlatforms = verify,
            Sources = [.. sources],
        };
        Assert.IsTrue(await Task.Run(task.Execute), engine.AllText);
    }

    private static TaskItem Item(Platform platform, string image, params (string Name, string Value)[] metadata)
    {
        var item = new TaskItem(platform.ToString());
        item.SetMetadata("Image", image);
        foreach (var (name, value) in metadata)
        {
            item.SetMetadata(name, value);
        }

        return item;
    }

    private static string SourceTag(Platform platform) => $"src-{platform.Os}-{platform.Architecture}{platform.Variant}";

    private static string SourceRepository(string prefix, Platform platform) => $"{prefix}-{platform.Architecture}{platform.Variant}";

    private static ProxyExchange Exchange(int sequence, int startMs, int endMs) =>
        new(sequence, null!, 200, 200, new Dictionary<string, string>(), null, ProxyOutcome.Forwarded, TimeSpan.FromMilliseconds(endMs - startMs), null)
        {
            Started = TimeSpan.FromMilliseconds(startMs),
        };
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// Consistency under random faults: hundreds of seeded schedules, each a random set of faults (5xx, 408, 429 with and
/// without Retry-After, resets before and after the registry applied the request, delays past the timeout, tampered and
/// cut bodies, lying HEADs, refused mounts, expired tokens, token-service failures) on random requests of a push of a
/// three-platform index over a target tag that already points at another index. After each push, one of two things
/// holds, or the schedule is a violation:
/// <list type="bullet">
/// <item>it succeeded, and the tag resolves to the expected index, every child of which is in the target repository by
/// digest (with its config and layers);</item>
/// <item>it failed with a coded <see cref="MultiArchException"/> and the tag still points at the previous index (for
/// <c>MULTIARCH1019</c>, "the outcome is unknown", at the previous index or the complete new one, as it says).</item>
/// </list>
/// Schedules run side by side against one registry, each through its own <see cref="FaultProxy"/>. A violation prints
/// the seed, the schedule and the proxy's transcript; <c>MULTIARCH_FAULT_SEED</c> replays from another base seed.
/// </summary>
[TestClass]
public sealed class FaultScheduleTests
{
    private const int BaseSeed = 20261127;
    private const string SeedVariable = "MULTIARCH_FAULT_SEED";
    private const int Concurrency = 10;
    private const string Tag = "1.0";

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestMethod]
    [DataRow(RegistryMode.Open, 0, 130, DisplayName = "130 schedules, open registry (mounts and streamed copies)")]
    [DataRow(RegistryMode.Token, 130, 100, DisplayName = "100 schedules, token registry (expired tokens, token-service faults)")]
    public async Task RandomFaultSchedules_NeverPublishHalfAnIndex_NorMoveTheTagOnFailure(RegistryMode mode, int first, int count)
    {
        var baseSeed = int.TryParse(Environment.GetEnvironmentVariable(SeedVariable), CultureInfo.InvariantCulture, out var chosen) ? chosen : BaseSeed;
        var server = await TestRegistries.Get(mode);
        var fixture = await Fixture.CreateAsync(server, mode.ToString().ToLowerInvariant(), Cancel);
        var stopwatch = Stopwatch.StartNew();
        var outcomes = new ConcurrentBag<Outcome>();
        using var gate = new SemaphoreSlim(Concurrency);

        await Task.WhenAll(Enumerable.Range(first, count).Select(async n =>
        {
            await gate.WaitAsync(Cancel);
            try
            {
                outcomes.Add(await RunScheduleAsync(fixture, baseSeed + n, n));
            }
            finally
            {
                gate.Release();
            }
        }));

        var all = outcomes.OrderBy(o => o.Number).ToList();
        var violations = all.Where(o => o.Violation is not null).ToList();
        var failures = all.Where(o => o.Code is not null).GroupBy(o => o.Code!).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} x{g.Count()}");
        TestContext.WriteLine(
            $"{all.Count} schedules ({mode}, seeds {baseSeed + first}..{baseSeed + first + count - 1}) in {stopwatch.Elapsed.TotalSeconds:0.0} s: " +
            $"{all.Count(o => o.Code is null)} pushed, {all.Count(o => o.Code is not null)} failed with a code ({string.Join(", ", failures)}), " +
            $"{all.Sum(o => o.FaultsFired)} faults fired over {all.Sum(o => o.Requests)} requests, {violations.Count} violations.");
        if (violations.Count > 0)
        {
            Assert.Fail($"{violations.Count} of {all.Count} schedules broke the invariant:\n\n" + string.Join("\n\n", violations.Select(v => v.Violation)));
        }
    }

    [TestMethod]
    public void Schedules_AreDeterministicPerSeed_AndVaried()
    {
        var first = Schedule.Generate(BaseSeed, tokenMode: true).ToString();
        Assert.AreEqual(first, Schedule.Generate(BaseSeed, tokenMode: true).ToString(), "a seed always gives the same schedule");
        var kinds = Enumerable.Range(BaseSeed, 230).SelectMany(seed => Schedule.Generate(seed, tokenMode: seed % 2 == 0).Faults).Select(f => f.Action).Distinct().Count();
        Assert.IsGreaterThan(15, kinds, "the schedules use many kinds of fault");
    }

    private async Task<Outcome> RunScheduleAsync(Fixture fixture, int seed, int number)
    {
        var schedule = Schedule.Generate(seed, fixture.TokenMode);
        var target = TestNames.Repository($"sched-{fixture.Name}-{number}");
        await using var proxy = await FaultProxy.StartAsync(fixture.Server, Cancel);
        await using var tokens = fixture.TokenMode ? await ReliabilityKit.ProxyTokenServiceAsync(proxy, cancellationToken: Cancel) : null;
        var environment = TestClients.Environment(proxy);
        var before = await fixture.PushPreviousAsync(proxy, target, environment, Cancel);

        schedule.Apply(proxy, tokens);
        var log = new RecordingLog();
        var request = PushTestKit.FromSpec($"""
            image: {proxy.Reference(target, Tag)}
            manifests:
              - image: {proxy.Reference(fixture.Source, "amd64")}
              - image: {proxy.Reference(fixture.Source, "arm64")}
              - image: {proxy.Reference(fixture.Source, "armv7")}
            """);
        Exception? error = null;
        PushResult? result = null;
        try
        {
            result = await PushTestKit.PushAsync(environment, request, log, Cancel, Fast);
        }
        catch (Exception ex)
        {
            error = ex;
        }

        proxy.ClearRules();
        var faultsFired = schedule.Rules.Sum(r => r.Fired);
        var requests = proxy.Exchanges.Count + (tokens?.Exchanges.Count ?? 0);
        var now = await RegistryContent.ResolveAsync(fixture.Server, target, Tag, Cancel);
        var problem = await CheckAsync(fixture, target, before, now, result, error);
        var code = (error as MultiArchException)?.Code;
        if (problem is null)
        {
            return new Outcome(number, code, null, faultsFired, requests);
        }

        var report = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"Schedule #{number}, seed {seed} (replay: {SeedVariable}={seed - number}), {fixture.Server.Mode} registry, target {target}:{Tag}")
            .AppendLine(CultureInfo.InvariantCulture, $"Faults: {schedule}")
            .AppendLine(CultureInfo.InvariantCulture, $"Fired: {string.Join(", ", schedule.Rules.Select(r => r.ToString()))}")
            .AppendLine(CultureInfo.InvariantCulture, $"Violation: {problem}")
            .AppendLine(CultureInfo.InvariantCulture, $"Outcome: {(error is null ? "pushed " + result!.Index.Digest : error.ToString())}")
            .AppendLine(CultureInfo.InvariantCulture, $"Tag before {before}, after {now ?? "(none)"}; expected index {fixture.Expected}")
            .AppendLine("Transcript:")
            .AppendLine(proxy.Transcript());
        if (tokens is not null)
        {
            report.AppendLine("Token service:").AppendLine(tokens.Transcript());
        }

        return new Outcome(number, code, report.ToString(), faultsFired, requests);
    }

    /// <summary>The invariant; null when it holds, else what broke.</summary>
    private async Task<string?> CheckAsync(Fixture fixture, string target, string before, string? now, PushResult? result, Exception? error)
    {
        if (error is null)
        {
            if (result!.Index.Digest.ToString() != fixture.Expected)
            {
                return $"the push succeeded with {result.Index.Digest}, not the expected index {fixture.Expected}";
            }

            return now != fixture.Expected
                ? $"the push succeeded but the tag points at {now ?? "nothing"}"
                : await MissingChildAsync(fixture, target);
        }

        if (error is not MultiArchException coded || !coded.Code.StartsWith("MULTIARCH", StringComparison.Ordinal) || coded.Code == "MULTIARCH4000")
        {
            return $"the push failed without a coded error: {error.GetType().Name}";
        }

        if (now == before)
        {
            return null;
        }

        if (coded.Code == "MULTIARCH1019" && now == fixture.Expected)
        {
            // "The outcome is unknown": the tag may point at the new index, which must then be complete.
            return await MissingChildAsync(fixture, target);
        }

        return $"the push failed ({coded.Code}) but the tag moved from {before} to {now ?? "nothing"}";
    }

    /// <summary>Reads the tag's index from the registry (not through the proxy) and checks every child and its blobs by digest.</summary>
    private async Task<string?> MissingChildAsync(Fixture fixture, string target)
    {
        var served = await RegistryContent.GetManifestAsync(fixture.Server, target, Tag, Cancel);
        if (served is null || served.Digest.ToString() != fixture.Expected)
        {
            return $"the tag serves {served?.Digest.ToString() ?? "nothing"}";
        }

        foreach (var entry in IndexView.Parse(served.Bytes).Entries)
        {
            var child = await RegistryContent.GetManifestAsync(fixture.Server, target, entry.Digest, Cancel);
            if (child is null || child.Digest.ToString() != entry.Digest)
            {
                return $"the index is published but its child {entry.Digest} is not in {target}";
            }

            var image = fixture.Images.Single(i => i.Digest.ToString() == entry.Digest);
            foreach (var blob in image.Blobs)
            {
                var bytes = await RegistryContent.GetBlobAsync(fixture.Server, target, blob.Digest, Cancel);
                if (bytes is null || Digest.FromContent(bytes) != blob.Digest)
                {
                    return $"the index is published but the blob {blob.Digest} of {entry.Digest} is not in {target}";
                }
            }
        }

        return null;
    }

    private static RegistrySettings Fast(RegistrySettings settings) => settings with
    {
        RetryBaseDelay = TimeSpan.FromMilliseconds(2),
        RequestTimeout = TimeSpan.FromSeconds(1),
        MaxRetryAfter = TimeSpan.FromSeconds(1),
    };

    private sealed record Outcome(int Number, string? Code, string? Violation, int FaultsFired, int Requests);

    /// <summary>The source images (seeded once by skopeo), the previous image, and the digest every successful push must give.</summary>
    private sealed class Fixture
    {
        private Fixture(RegistryServer server, string name, string source, IReadOnlyList<TestImage> images, string expected)
        {
            Server = server;
            Name = name;
            Source = source;
            Images = images;
            Expected = expected;
        }

        public RegistryServer Server { get; }

        public string Name { get; }

        public bool TokenMode => Server.Mode == RegistryMode.Token;

        public string Source { get; }

        public IReadOnlyList<TestImage> Images { get; }

        public string Expected { get; }

        public static async Task<Fixture> CreateAsync(RegistryServer server, string name, CancellationToken cancellationToken)
        {
            var source = TestNames.Repository("sched-src-" + name);
            var images = new[] { TestImages.LinuxAmd64, TestImages.LinuxArm64, TestImages.LinuxArmV7 }.Select(p => TestImages.Image(p, "sched-" + name)).ToList();
            var previous = TestImages.Image(TestImages.LinuxAmd64, "sched-previous-" + name);
            await PushTestKit.SeedAsync(server, cancellationToken, (source, "amd64", images[0]), (source, "arm64", images[1]), (source, "armv7", images[2]), (source, "previous", previous));

            // The expected index, from a push without faults.
            await using var proxy = await FaultProxy.StartAsync(server, cancellationToken);
            var control = TestNames.Repository("sched-control-" + name);
            var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec($"""
                image: {proxy.Reference(control, Tag)}
                manifests:
                  - image: {proxy.Reference(source, "amd64")}
                  - image: {proxy.Reference(source, "arm64")}
                  - image: {proxy.Reference(source, "armv7")}
                """), new RecordingLog(), cancellationToken);
            var expected = result.Index.Digest.ToString();
            Assert.AreEqual(expected, await RegistryContent.ResolveAsync(server, control, Tag, cancellationToken));
            return new Fixture(server, name, source, images, expected);
        }

        /// <summary>Points <c>target:1.0</c> at an index of the previous image; returns its digest.</summary>
        public async Task<string> PushPreviousAsync(FaultProxy proxy, string target, Dictionary<string, string?> environment, CancellationToken cancellationToken)
        {
            var result = await PushTestKit.PushAsync(environment, PushTestKit.FromSpec($"""
                image: {proxy.Reference(target, Tag)}
                manifests:
                  - image: {proxy.Reference(Source, "previous")}
                """), new RecordingLog(), cancellationToken);
            var digest = result.Index.Digest.ToString();
            Assert.AreEqual(digest, await RegistryContent.ResolveAsync(Server, target, Tag, cancellationToken));
            return digest;
        }
    }

    /// <summary>One fault: which requests (after skipping some), what happens to them, how many times.</summary>
    private sealed record Fault(string Selector, string Action, int? Times, int Skip, bool OnTokenService)
    {
        public override string ToString() =>
            $"{Action} on {(Skip > 0 ? $"the {Ordinal(Skip + 1)} and later " : string.Empty)}{Selector}{(OnTokenService ? " (token service)" : string.Empty)} {(Times is { } n ? "x" + n.ToString(CultureInfo.InvariantCulture) : "always")}";

        private static string Ordinal(int n) => n.ToString(CultureInfo.InvariantCulture) + (n == 2 ? "nd" : n == 3 ? "rd" : "th");
    }

    /// <summary>A seeded random set of faults and the rules it became on the proxies.</summary>
    private sealed class Schedule
    {
        private static readonly (string Name, Func<ProxyRequest, bool> Matches)[] s_selectors =
        [
            ("GET manifest by tag", r => r.Is("GET", "/manifests/") && !r.Path.Contains("/manifests/sha256:", StringComparison.Ordinal)),
            ("GET manifest by digest", r => r.Is("GET", "/manifests/sha256:")),
            ("HEAD manifest", r => r.Is("HEAD", "/manifests/")),
            ("GET blob", r => r.Method == "GET" && r.IsBlob),
            ("HEAD blob", r => r.Method == "HEAD" && r.IsBlob),
            ("mount", r => r.IsMount),
            ("POST upload", r => r.Method == "POST" && r.IsUpload && !r.IsMount),
            ("PUT upload", r => r.Method == "PUT" && r.IsUpload),
            ("DELETE upload", r => r.Method == "DELETE" && r.IsUpload),
            ("PUT child manifest", r => r.Is("PUT", "/manifests/sha256:")),
            ("PUT tag", r => r.Is("PUT", "/manifests/" + Tag)),
            ("PUT of the index (by tag)", r => r.Is("PUT", "/manifests/" + Tag)),
            ("any write", r => r.IsWrite),
            ("any request", _ => true),
        ];

        private static readonly string[] s_actions =
        [
            "500", "502", "503", "504", "408", "429", "429 Retry-After: 0", "429 Retry-After: 1", "503 Retry-After: date",
            "429 Retry-After: 30", "reset", "reset after forwarding", "delay", "delay past the timeout", "tamper body",
            "cut body", "404", "refuse mount", "slow body",

            // The faults that test ordering and unknown outcomes hardest, twice as likely.
            "reset", "reset after forwarding", "cut body",
        ];

        private readonly List<FaultRule> _rules = [];

        private Schedule(int seed, IReadOnlyList<Fault> faults)
        {
            Seed = seed;
            Faults = faults;
        }

        public int Seed { get; }

        public IReadOnlyList<Fault> Faults { get; }

        public IReadOnlyList<FaultRule> Rules => _rules;

        public static Schedule Generate(int seed, bool tokenMode)
        {
            var random = new Random(seed);
            var faults = new List<Fault>();
            var count = random.Next(1, 5);
            for (var i = 0; i < count; i++)
            {
                var onTokens = tokenMode && random.Next(6) == 0;
                var selector = onTokens ? "token request" : s_selectors[random.Next(s_selectors.Length)].Name;
                string[] actions = tokenMode && !onTokens ? [.. s_actions, "expire token", "expire token"] : s_actions;
                var action = actions[random.Next(actions.Length)];
                if (action == "refuse mount")
                {
                    selector = "mount";
                }

                // Mostly a few times (survived by retries), sometimes six times or always (a failure the push must
                // survive by leaving the tag alone).
                int? times = random.Next(20) switch
                {
                    < 8 => 1,
                    < 11 => 2,
                    < 14 => 3,
                    < 17 => 6,
                    _ => null,
                };
                var skip = random.Next(3) == 0 ? random.Next(1, 4) : 0;
                faults.Add(new Fault(selector, action, times, skip, onTokens));
            }

            return new Schedule(seed, faults);
        }

        public void Apply(FaultProxy proxy, FaultProxy? tokens)
        {
            var random = new Random(Seed ^ 0x5eed);
            foreach (var fault in Faults)
            {
                var matches = fault.OnTokenService ? _ => true : s_selectors.Single(s => s.Name == fault.Selector).Matches;
                var seen = 0;
                var skip = fault.Skip;
                var action = Action(fault.Action, random);
                var on = fault.OnTokenService ? tokens! : proxy;
                _rules.Add(on.When(r => matches(r) && Interlocked.Increment(ref seen) > skip, action, fault.Times, fault.ToString()));
            }
        }

        public override string ToString() => string.Join("; ", Faults);

        private static FaultAction Action(string name, Random random) => name switch
        {
            "408" or "500" or "502" or "503" or "504" or "404" => FaultAction.RegistryError(int.Parse(name, CultureInfo.InvariantCulture), name == "404" ? "MANIFEST_UNKNOWN" : "UNAVAILABLE", "injected"),
            "429" => FaultAction.RegistryError(429, "TOOMANYREQUESTS", "injected"),
            "429 Retry-After: 0" => FaultAction.RetryAfter(429, TimeSpan.Zero),
            "429 Retry-After: 1" => FaultAction.RetryAfter(429, TimeSpan.FromSeconds(1)),
            "429 Retry-After: 30" => FaultAction.RetryAfter(429, TimeSpan.FromSeconds(30)),
            "503 Retry-After: date" => FaultAction.Custom("503, Retry-After: a date", context => FaultAction.RetryAfter(503, DateTimeOffset.UtcNow.AddSeconds(1)).RunAsync(context)),
            "reset" => FaultAction.Reset,
            "reset after forwarding" => FaultAction.ResetAfterForwarding,
            "delay" => FaultAction.Delay(TimeSpan.FromMilliseconds(random.Next(10, 200))),
            "delay past the timeout" => FaultAction.Delay(TimeSpan.FromSeconds(1.5)),
            "tamper body" => FaultAction.TamperBody(bytes => bytes.Length == 0 ? [(byte)' '] : [.. bytes[..^1], (byte)(bytes[^1] ^ 0x20), (byte)' ']),
            "cut body" => FaultAction.CutBody(0.5),
            "refuse mount" => FaultAction.RefuseMount,
            "slow body" => FaultAction.SlowBody(TimeSpan.FromMilliseconds(20), chunkBytes: 256),
            "expire token" => FaultAction.ExpireToken,
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
        };
    }
}

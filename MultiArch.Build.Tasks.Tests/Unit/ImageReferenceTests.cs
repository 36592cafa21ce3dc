using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Tests.Unit;

[TestClass]
public sealed class ImageReferenceTests
{
    private const string Sha = "sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9";

    [TestMethod]
    [DataRow("ubuntu", "docker.io", "library/ubuntu", null, null)]
    [DataRow("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", null)]
    [DataRow("index.docker.io/library/ubuntu:1", "docker.io", "library/ubuntu", "1", null)]
    [DataRow("foo/bar:1", "docker.io", "foo/bar", "1", null)]
    [DataRow("localhost/app", "localhost", "app", null, null)]
    [DataRow("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", null)]
    [DataRow("127.0.0.1:5101/demo:latest", "127.0.0.1:5101", "demo", "latest", null)]
    [DataRow("myregistry.io/app@" + Sha, "myregistry.io", "app", null, Sha)]
    [DataRow("myregistry.io/app:1.0@" + Sha, "myregistry.io", "app", "1.0", Sha)]
    [DataRow("[::1]:5000/app:x", "[::1]:5000", "app", "x", null)]
    [DataRow("Registry/app", "Registry", "app", null, null)]
    [DataRow("reg.io/a.b_c__d---e/f:T_1.-", "reg.io", "a.b_c__d---e/f", "T_1.-", null)]
    public void Parses(string input, string registry, string repository, string? tag, string? digest)
    {
        var reference = ImageReference.Parse(input);
        Assert.AreEqual(registry, reference.Registry);
        Assert.AreEqual(repository, reference.Repository);
        Assert.AreEqual(tag, reference.Tag);
        Assert.AreEqual(digest, reference.Digest?.ToString());
        Assert.AreEqual(reference, ImageReference.Parse(reference.ToString()), "ToString round-trips");
    }

    [TestMethod]
    [DataRow("", "empty")]
    [DataRow("reg.io/UPPER/case", "lower-case")]
    [DataRow("reg.io/App", "lower-case")]
    [DataRow("reg.io/app:", "tag")]
    [DataRow("reg.io/app:-bad", "tag")]
    [DataRow("reg.io/app:.bad", "tag")]
    [DataRow("reg.io/app@sha256:abc", "digest")]
    [DataRow("reg.io/app@md5:0123456789abcdef0123456789abcdef", "digest")]
    [DataRow("reg.io/app@SHA256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9", "digest")]
    [DataRow("reg.io//app", "path component")]
    [DataRow("reg.io/app/", "path component")]
    [DataRow("reg.io/a..b", "path component")]
    [DataRow("reg.io/a%2fb", "path component")]
    [DataRow("reg.io:99999/app", "port")]
    [DataRow("reg.io:/app", "port")]
    [DataRow("-reg.io/app", "host")]
    [DataRow("reg.io/app?x=1", "path component")]
    [DataRow("reg.io/../etc", "path component")]
    public void RejectsWithCodeAndReason(string input, string reasonFragment)
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ImageReference.Parse(input));
        Assert.AreEqual("MULTIARCH2001", ex.Code);
        StringAssert.Contains(ex.Message, reasonFragment);
        StringAssert.Contains(ex.Message, $"'{input}'");
    }

    [TestMethod]
    public void TagLongerThan128IsRejected()
    {
        Assert.IsTrue(ImageReference.IsValidTag(new string('a', 128)));
        Assert.IsFalse(ImageReference.IsValidTag(new string('a', 129)));
    }

    [TestMethod]
    public void NameLongerThan255IsRejected()
    {
        var repository = string.Join('/', Enumerable.Repeat(new string('a', 50), 4));
        Assert.IsTrue(ImageReference.TryParse("r.io/" + repository, out _));
        Assert.IsFalse(ImageReference.TryParse("r.io/" + repository + "/" + new string('b', 60), out _));
    }

    [TestMethod]
    public void DigestWinsOverTagForTheApi()
    {
        Assert.AreEqual(Sha, ImageReference.Parse("r.io/app:1@" + Sha).ReferenceForApi);
        Assert.AreEqual("latest", ImageReference.Parse("r.io/app").ReferenceForApi);
    }

    private const int Seed = 20261127;

    /// <summary>A seeded property test: random inputs never crash the parser, and what it accepts round-trips.</summary>
    [TestMethod]
    public void HundredThousandGeneratedInputsNeverCrash()
    {
        var accepted = 0;
        foreach (var input in Generated(Seed, 100_000))
        {
            try
            {
                if (ImageReference.TryParse(input, out var reference, out var reason))
                {
                    accepted++;
                    Assert.AreEqual(reference, ImageReference.Parse(reference.ToString()), $"seed {Seed}, input '{input}'");
                }
                else
                {
                    Assert.IsFalse(string.IsNullOrEmpty(reason));
                }
            }
            catch (Exception ex) when (ex is not AssertFailedException)
            {
                Assert.Fail($"seed {Seed}, input '{input}': {ex}");
            }
        }

        Assert.IsGreaterThan(100, accepted, "the generator should also produce valid references");
    }

    /// <summary>
    /// The same 100,000 inputs, the invalid ones given to the tasks as the image to inspect, the push target and a
    /// source image: each fails with one coded error, and not one request is sent (the transport, the only way to the
    /// network, counts them).
    /// </summary>
    [TestMethod]
    public void GeneratedInvalidReferences_FailTheTasksBeforeAnyNetworkCall()
    {
        var requests = new CountingHandler();
        Func<HttpMessageHandler> transport = () => requests;
        var engine = new Infrastructure.FakeBuildEngine();
        // Invalid as the tasks see them: they trim their inputs (" a/b" is valid there), and item metadata is
        // MSBuild-unescaped ("a:%6A" is "a:j").
        static string Unescaped(string value) => System.Text.RegularExpressions.Regex.Replace(value, "%([0-9A-Fa-f]{2})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 16)).ToString());
        var invalid = Generated(Seed, 100_000)
            .Where(input => !ImageReference.TryParse(input, out _) && !ImageReference.TryParse(input.Trim(), out _) && !ImageReference.TryParse(Unescaped(input).Trim(), out _))
            .ToList();
        var sent = new List<string>();
        var codes = new Dictionary<string, int>(StringComparer.Ordinal);
        var tasks = 0;
        foreach (var (input, i) in invalid.Select((input, i) => (input, i)))
        {
            Build.Tasks.Tasks.MultiArchTask task = (i % 3) switch
            {
                0 => new Build.Tasks.Tasks.InspectImageManifest { Image = input },
                1 => new Build.Tasks.Tasks.PushManifestList { Platforms = "linux/amd64", Template = "127.0.0.1:1/app:ARCH", Target = input },
                _ => new Build.Tasks.Tasks.PushManifestList { Sources = [new Microsoft.Build.Utilities.TaskItem("linux/amd64", new Dictionary<string, string> { ["Image"] = input })], Target = "127.0.0.1:1/app:1" },
            };
            task.BuildEngine = engine;
            task.TransportFactory = transport;
            task.ConfigureSettings = settings => settings with { MaxRetries = 0 };
            task.Environment = _ => null;
            var errors = engine.Errors.Count;
            var before = requests.Count;
            if (task.Execute() || engine.Errors.Count != errors + 1)
            {
                Assert.Fail($"seed {Seed}, input '{input}': expected one coded error from {task.GetType().Name}, got {engine.Errors.Count - errors}: {engine.AllText}");
            }

            if (requests.Count != before)
            {
                sent.Add($"{task.GetType().Name} '{input}'");
            }

            var code = engine.Errors[^1].Code;
            codes[code] = codes.GetValueOrDefault(code) + 1;
            tasks++;
        }

        Assert.AreEqual(0, requests.Count, $"no request may be sent; sent for: {string.Join("; ", sent.Take(20))}");
        Assert.IsGreaterThan(90_000, tasks);
        Assert.IsFalse(codes.ContainsKey("MULTIARCH4000"), "no unexpected errors: " + string.Join(", ", codes.Select(c => $"{c.Key} x{c.Value}")));
        Assert.IsTrue(codes.Keys.All(c => c.StartsWith("MULTIARCH", StringComparison.Ordinal)), string.Join(", ", codes.Keys));
    }

    /// <summary>Counts the requests that reach the network, and refuses them (shared by every task: disposing it changes nothing).</summary>
    private sealed class CountingHandler : HttpMessageHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            throw new HttpRequestException("no request may be sent for an invalid reference");
        }
    }

    /// <summary>Random strings over an alphabet of reference characters and troublemakers; every tenth behind a registry.</summary>
    private static IEnumerable<string> Generated(int seed, int count)
    {
        var random = new Random(seed);
        const string Alphabet = "abcz019AZ:/@._-+%?#[] \t\u00e9\u0000sha256";
        for (var i = 0; i < count; i++)
        {
            var length = random.Next(0, 40);
            var chars = new char[length];
            for (var j = 0; j < length; j++)
            {
                chars[j] = Alphabet[random.Next(Alphabet.Length)];
            }

            yield return i % 10 == 0 ? "reg.io/" + new string(chars) : new string(chars);
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using MultiArch.Build.Tasks.Specs;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>
/// Random and mutated documents must either read or fail with a MULTIARCH3xxx <see cref="MultiArchException"/> —
/// never another exception, never a hang. Fixed seeds keep CI repeatable; one run takes a new seed each time and
/// prints it. Reproduce a failure with <c>MULTIARCH_SPEC_FUZZ_SEED=&lt;seed&gt;</c>.
/// </summary>
[TestClass]
public sealed class ManifestSpecReaderFuzzTests
{
    private const string SeedVariable = "MULTIARCH_SPEC_FUZZ_SEED";
    private const string FileName = "fuzz.yaml";
    private const int DocumentsPerRun = 1000;
    // A hang, not a slow machine: generous, so that it holds while other processes load every core.
    private static readonly TimeSpan s_slow = TimeSpan.FromSeconds(20);

    private static readonly string[] s_tokens =
    [
        ":", ": ", "- ", "-", "[", "]", "{", "}", ",", ", ", "&a ", "*a", "&b ", "*b", "!!str ", "!!int ", "!!map ", "!!seq ",
        "!!null ", "!foo ", "!!python/object:os.system ", "!<tag:yaml.org,2002:str> ", "'", "\"", "\n", "\n  ", "\n    - ", "\t",
        " ", "#", " # c", "|", "|-\n  ", ">", "? ", "%YAML 1.2\n---\n", "%TAG !! tag:x:\n---\n", "---\n", "...\n", "~", "null",
        "\\", "\\x", "\\u00", "\u0085", "\u2028", "\uFEFF", "\0", "\u0001", "\u007F", "é", "\U0001F680", "<<: *a\n",
        "image: ", "manifests:", "platform:", "os.version: ", "osversion: ", "os.features: [x]", "annotations:", "tags:",
        "format: oci", "features: [", "@sha256:", "{}", "[]", "Image: ", "127.0.0.1:5000/app:1.0", "UPPER/Case", "a/b:-x",
    ];

    private static readonly string[] s_topKeys = ["image", "manifests", "tags", "annotations", "format"];
    private static readonly string[] s_entryKeys = ["image", "platform", "annotations"];
    private static readonly string[] s_platformKeys = ["os", "architecture", "variant", "osversion", "os.version", "osfeatures", "os.features", "features"];
    private static readonly string[] s_badKeys = ["Image", "platforms", "tags", "digest", "arch", "OS", "", "<<", "image "];

    private static readonly string[] s_images =
        ["127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app@sha256:0000000000000000000000000000000000000000000000000000000000000000", "ubuntu", "a/b:1"];

    private static readonly string[] s_goodValues = ["1.0", "latest", "v2", "linux", "amd64", "arm64", "v7", "10.0.17763.2300", "win32k", "oci", "docker", "1"];

    private static readonly string[] s_badValues =
    [
        "REGISTRY/REPO:TAG", "a//b", "V8", "-bad", "", " ", "~", "null", "true", "1e3", "0x1F", ".inf", "a: b", "#x", "- x", "x\ny", "café",
        "\U0001F680", new string('a', 200), "Linux", "OCI",
    ];

    private const int MaxGeneratedLength = 16 * 1024;
    private const int MaxGeneratedDepth = 8;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void Spec_fuzz_with_fixed_seed(int seed) => Report(Run(seed));

    [TestMethod]
    public void Spec_fuzz_with_new_seed()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(SeedVariable);
        var seed = int.TryParse(fromEnvironment, NumberStyles.Integer, CultureInfo.InvariantCulture, out var given)
            ? given
            : Random.Shared.Next();
        TestContext.WriteLine($"Fuzz seed {seed} (set {SeedVariable}={seed} to repeat this run).");
        Report(Run(seed));
    }

    /// <summary>Logs what the documents came to, and checks the run reached the binder, not only the YAML parser.</summary>
    private void Report(Dictionary<string, int> outcomes)
    {
        TestContext.WriteLine(string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}")));
        Assert.IsGreaterThan(0, outcomes.GetValueOrDefault("read"), "no document was read successfully");
        Assert.IsGreaterThanOrEqualTo(5, outcomes.Count, "the documents reached too few of the reader's checks");
    }

    private static Dictionary<string, int> Run(int seed)
    {
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var random = new Random(seed);
        var corpus = Directory.GetFiles(Path.Combine(RepoPaths.TestAssets, "specs"), "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(File.ReadAllText)
            .ToArray();

        for (var i = 0; i < DocumentsPerRun; i++)
        {
            var document = (i % 3) switch
            {
                0 => Mutate(random, corpus[random.Next(corpus.Length)], corpus),
                1 => GenerateSpec(random),
                _ => Mutate(random, GenerateSpec(random), corpus),
            };
            var outcome = Check(document, seed, i);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        return outcomes;
    }

    /// <summary>Reads one document; returns "read" or the error code, and fails the test on anything else.</summary>
    private static string Check(string document, int seed, int index)
    {
        var clock = Stopwatch.StartNew();
        var work = Task.Run<(string Outcome, string? Problem)>(() =>
        {
            try
            {
                var spec = ManifestSpecReader.ReadText(document, FileName);
                return ("read", CheckInvariants(spec));
            }
            catch (MultiArchException ex)
            {
                return ex.Code.StartsWith("MULTIARCH30", StringComparison.Ordinal) && ex.Message.StartsWith(FileName, StringComparison.Ordinal)
                    ? (ex.Code, null)
                    : (ex.Code, $"a MultiArchException with code {ex.Code} or without the file name: {ex.Message}");
            }
            catch (Exception ex)
            {
                return ("crash", $"{ex.GetType().FullName}: {ex.Message}\n{ex.StackTrace}");
            }
        });

        var (outcome, problem) = work.Wait(s_slow) ? work.Result : ("hang", $"no result after {s_slow.TotalSeconds} s");
        if (problem is null && clock.Elapsed > s_slow)
        {
            problem = $"took {clock.Elapsed.TotalSeconds:F1} s";
        }

        if (problem is not null)
        {
            Assert.Fail($"Fuzz seed {seed}, document {index}: {problem}\nReproduce with {SeedVariable}={seed}.\nDocument (C# literal):\n{Literal(document)}");
        }

        return outcome;
    }

    private static string? CheckInvariants(ManifestSpec spec)
    {
        var locations = new List<SpecLocation> { spec.Location };
        locations.AddRange(spec.TagLocations);
        locations.AddRange(spec.Manifests.Select(m => m.Location));
        locations.AddRange(spec.Manifests.Where(m => m.Platform is not null).Select(m => m.Platform!.Location));

        if (string.IsNullOrEmpty(spec.Image) || spec.Manifests.IsDefaultOrEmpty || spec.Tags.Length != spec.TagLocations.Length)
        {
            return "a spec without image or manifests, or with tags and tag locations that differ in number";
        }

        if (spec.Format is not (null or ManifestSpec.FormatOci or ManifestSpec.FormatDocker))
        {
            return $"the format '{spec.Format}'";
        }

        var platforms = spec.Manifests.Select(m => m.Platform).Where(p => p is not null).ToList();
        if (platforms.Any(p => (p!.Os is null) != (p.Architecture is null)))
        {
            return "a platform with only one of os and architecture";
        }

        return locations.All(l => l.File == FileName && l.Line >= 1 && l.Column >= 1) ? null : "a location outside the document";
    }

    private static string Mutate(Random random, string text, string[] corpus)
    {
        var builder = new StringBuilder(text);
        var steps = random.Next(1, 5);
        for (var step = 0; step < steps; step++)
        {
            var at = builder.Length == 0 ? 0 : random.Next(builder.Length + 1);
            switch (random.Next(9))
            {
                case 0:
                    builder.Remove(Math.Min(at, builder.Length), Math.Min(random.Next(1, 20), builder.Length - Math.Min(at, builder.Length)));
                    break;
                case 1:
                case 2:
                    builder.Insert(at, s_tokens[random.Next(s_tokens.Length)]);
                    break;
                case 3:
                    if (builder.Length > 0)
                    {
                        builder[Math.Min(at, builder.Length - 1)] = (char)random.Next(0x20, 0x7F);
                    }

                    break;
                case 4:
                    builder.Length = Math.Min(builder.Length, at);
                    break;
                case 5:
                    {
                        var lines = builder.ToString().Split('\n').ToList();
                        var line = random.Next(lines.Count);
                        lines.Insert(random.Next(lines.Count + 1), lines[line]);
                        builder.Clear().AppendJoin('\n', lines);
                        break;
                    }

                case 6:
                    {
                        var lines = builder.ToString().Split('\n');
                        var (a, b) = (random.Next(lines.Length), random.Next(lines.Length));
                        (lines[a], lines[b]) = (lines[b], lines[a]);
                        builder.Clear().AppendJoin('\n', lines);
                        break;
                    }

                case 7:
                    {
                        var lines = builder.ToString().Split('\n');
                        var line = random.Next(lines.Length);
                        lines[line] = random.Next(2) == 0 ? new string(' ', random.Next(1, 4)) + lines[line] : lines[line].TrimStart();
                        builder.Clear().AppendJoin('\n', lines);
                        break;
                    }

                default:
                    {
                        var other = corpus[random.Next(corpus.Length)].Split('\n');
                        builder.Insert(at, other[random.Next(other.Length)] + "\n");
                        break;
                    }
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// A flow-style document shaped mostly like a spec: known keys with well-formed values most of the time, and now
    /// and then a wrong key, a wrong shape, a bad value, an anchor, an alias or a tag.
    /// </summary>
    private static string GenerateSpec(Random random)
    {
        var generator = new SpecGenerator(random);
        if (random.Next(10) == 0)
        {
            generator.Text.Append("---\n");
        }

        generator.Mapping(s_topKeys, 1, required: random.Next(10) == 0 ? 0 : 2, generator.TopValue);
        return generator.Text.Append('\n').ToString();
    }

    private sealed class SpecGenerator
    {
        private readonly Random _random;

        /// <summary>How often this document goes wrong: a quarter of the documents are clean, the rest rarely to often wrong.</summary>
        private readonly int _faultOneIn;

        public SpecGenerator(Random random)
        {
            _random = random;
            _faultOneIn = random.Next(4) switch
            {
                0 => 0,
                1 => 60,
                2 => 20,
                _ => 6,
            };
        }

        public StringBuilder Text { get; } = new();

        private bool Chance(int oneIn) => _random.Next(oneIn) == 0;

        /// <summary>True when this spot should go wrong.</summary>
        private bool Fault() => _faultOneIn > 0 && _random.Next(_faultOneIn) == 0;

        private string Pick(string[] values) => values[_random.Next(values.Length)];

        public void TopValue(string key, int depth)
        {
            switch (key)
            {
                case "image":
                    Scalar(Fault() ? Pick(s_badValues) : Pick(s_images));
                    break;
                case "tags":
                    Sequence(depth, d => Scalar(Fault() ? Pick(s_badValues) : Pick(s_goodValues)));
                    break;
                case "manifests":
                    Sequence(depth, d => Mapping(s_entryKeys, d, required: Fault() ? 0 : 1, EntryValue), minimum: Fault() ? 0 : 1);
                    break;
                case "annotations":
                    Annotations(depth);
                    break;
                case "format":
                    Scalar(Fault() ? Pick(s_badValues) : Pick(["oci", "docker"]));
                    break;
                default:
                    Any(depth);
                    break;
            }
        }

        private void EntryValue(string key, int depth)
        {
            switch (key)
            {
                case "image":
                    Scalar(Fault() ? Pick(s_badValues) : Pick(s_images));
                    break;
                case "platform":
                    Mapping(s_platformKeys, depth, required: Fault() ? 0 : 2, PlatformValue);
                    break;
                case "annotations":
                    Annotations(depth);
                    break;
                default:
                    Any(depth);
                    break;
            }
        }

        private void PlatformValue(string key, int depth)
        {
            if (key is "osfeatures" or "os.features" or "features")
            {
                Sequence(depth, d => Scalar(Fault() ? Pick(s_badValues) : Pick(["win32k", "sse4", "avx2"])));
                return;
            }

            string[] good = key switch
            {
                "os" => ["linux", "windows"],
                "architecture" => ["amd64", "arm64", "arm", "s390x"],
                "variant" => ["v6", "v7", "v8"],
                _ => ["10.0.17763.2300", "10.0.20348.2113"],
            };
            Scalar(Fault() ? Pick(s_badValues) : Pick(good));
        }

        /// <summary>A flow mapping; its first <paramref name="required"/> known keys come first and always, the rest by chance.</summary>
        public void Mapping(string[] keys, int depth, int required, Action<string, int> value)
        {
            if (Decorate(depth))
            {
                return;
            }

            var chosen = keys.Take(required).Concat(keys.Skip(required).Where(_ => Chance(2))).ToList();
            if (keys == s_platformKeys)
            {
                // Only one spelling of a field unless this spot goes wrong.
                chosen.RemoveAll(k => (k == "os.version" && chosen.Contains("osversion")) || (k == "os.features" && chosen.Contains("osfeatures")));
            }

            if (Fault())
            {
                chosen.Insert(_random.Next(chosen.Count + 1), Chance(3) ? Pick(chosen.Count > 0 ? [.. chosen] : keys) : Pick(s_badKeys));
            }

            Text.Append('{');
            for (var i = 0; i < chosen.Count && Text.Length < MaxGeneratedLength; i++)
            {
                Text.Append(i > 0 ? ", " : string.Empty);
                Scalar(chosen[i]);
                Text.Append(": ");
                if (Fault())
                {
                    Any(depth + 1);
                }
                else
                {
                    value(chosen[i], depth + 1);
                }
            }

            Text.Append('}');
        }

        private void Sequence(int depth, Action<int> item, int minimum = 0)
        {
            if (Decorate(depth))
            {
                return;
            }

            Text.Append('[');
            var count = _random.Next(minimum, 4);
            for (var i = 0; i < count && Text.Length < MaxGeneratedLength; i++)
            {
                Text.Append(i > 0 ? ", " : string.Empty);
                if (Fault())
                {
                    Any(depth + 1);
                }
                else
                {
                    item(depth + 1);
                }
            }

            Text.Append(']');
        }

        private void Annotations(int depth)
        {
            if (Decorate(depth))
            {
                return;
            }

            Text.Append('{');
            var count = _random.Next(0, 4);
            for (var i = 0; i < count; i++)
            {
                Text.Append(i > 0 ? ", " : string.Empty);
                Scalar(Fault() ? Pick(s_badValues) : "org.example.k" + i);
                Text.Append(": ");
                if (Fault())
                {
                    Any(depth + 1);
                }
                else
                {
                    Scalar(Fault() ? Pick(s_badValues) : Pick(s_goodValues));
                }
            }

            Text.Append('}');
        }

        private void Any(int depth)
        {
            switch (depth >= MaxGeneratedDepth || Text.Length >= MaxGeneratedLength ? 0 : _random.Next(4))
            {
                case 0:
                    Scalar(Pick(Chance(2) ? s_badValues : s_goodValues));
                    break;
                case 1:
                    Sequence(depth, Any);
                    break;
                case 2:
                    Mapping([.. s_topKeys, .. s_badKeys], depth, 0, (_, d) => Any(d));
                    break;
                default:
                    Text.Append("*a").Append(_random.Next(3));
                    break;
            }
        }

        /// <summary>Now and then writes an alias instead of the node (true), or an anchor or a tag before it.</summary>
        private bool Decorate(int depth)
        {
            if (!Fault())
            {
                return false;
            }

            switch (_random.Next(4))
            {
                case 0:
                    Text.Append("*a").Append(_random.Next(3));
                    return true;
                case 1:
                    Text.Append("&a").Append(_random.Next(3)).Append(' ');
                    break;
                case 2:
                    Text.Append(Chance(2) ? "!!map " : "!!seq ");
                    break;
                case 3 when depth <= 1:
                    Text.Append("!custom ");
                    break;
            }

            return false;
        }

        private void Scalar(string value)
        {
            switch (_random.Next(4))
            {
                case 0:
                    Text.Append('\'').Append(value.Replace("'", "''", StringComparison.Ordinal)).Append('\'');
                    break;
                case 1:
                case 2:
                    Text.Append('"').Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('"');
                    break;
                case 3 when Fault():
                    Text.Append(Pick(["!!str ", "!!int ", "!!bool ", "!!null ", "!!float ", "!!binary ", "&a0 ", "&a1 "]))
                        .Append('"').Append(value.Replace("\"", string.Empty, StringComparison.Ordinal).Replace("\\", string.Empty, StringComparison.Ordinal)).Append('"');
                    break;
                default:
                    Text.Append(value.Length == 0 || value.Contains('\n', StringComparison.Ordinal) ? "\"\"" : value);
                    break;
            }
        }
    }

    private static string Pick(Random random, string[] values) => values[random.Next(values.Length)];

    private static string Literal(string text)
    {
        var literal = new StringBuilder("\"");
        foreach (var c in text)
        {
            literal.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when c < ' ' || c > '~' => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        return literal.Append('"').ToString();
    }
}

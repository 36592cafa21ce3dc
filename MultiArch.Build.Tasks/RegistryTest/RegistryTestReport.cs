using System.Globalization;
using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.RegistryTest;

/// <summary>How one capability came out.</summary>
internal enum CapabilityState
{
    /// <summary>The registry did it, and served back exactly what was pushed.</summary>
    Supported,

    /// <summary>The registry refused it (its answer is kept) or did it wrong.</summary>
    NotSupported,

    /// <summary>Not checked: something it needs failed first, or it was switched off.</summary>
    Skipped,
}

/// <summary>One capability: its stable name (used in <c>ContainerRegistryTestRequire</c> and the report) and a title.</summary>
internal sealed record RegistryCapability(string Name, string Title);

/// <summary>The capabilities the registry self-test checks, in the order it checks them.</summary>
internal static class RegistryCapabilities
{
    public const string BlobUploadMonolithic = nameof(BlobUploadMonolithic);
    public const string BlobUploadChunked = nameof(BlobUploadChunked);
    public const string DockerManifestList = nameof(DockerManifestList);
    public const string OciIndex = nameof(OciIndex);
    public const string OciIndexAnnotations = nameof(OciIndexAnnotations);
    public const string NestedIndex = nameof(NestedIndex);
    public const string CrossRepositoryMount = nameof(CrossRepositoryMount);
    public const string CrossRepositoryCopy = nameof(CrossRepositoryCopy);
    public const string ExtraTags = nameof(ExtraTags);
    public const string ReadByTag = nameof(ReadByTag);
    public const string ReadByDigest = nameof(ReadByDigest);
    public const string Referrers = nameof(Referrers);
    public const string Delete = nameof(Delete);

    public static IReadOnlyList<RegistryCapability> All { get; } =
    [
        new(BlobUploadMonolithic, "blob upload, monolithic (POST + PUT)"),
        new(BlobUploadChunked, "blob upload, chunked (POST + PATCH + PUT)"),
        new(DockerManifestList, "Docker manifest list"),
        new(OciIndex, "OCI image index"),
        new(OciIndexAnnotations, "OCI index with index and entry annotations"),
        new(NestedIndex, "index of indexes"),
        new(CrossRepositoryMount, "child from another repository by cross-repository mount"),
        new(CrossRepositoryCopy, "child from another repository by copy"),
        new(ExtraTags, "more tags for one index"),
        new(ReadByTag, "read back by tag: same bytes and Content-Type"),
        new(ReadByDigest, "read back by digest: same bytes and Content-Type"),
        new(Referrers, "referrers API (OCI distribution 1.1)"),
        new(Delete, "delete what was pushed"),
    ];

    /// <summary>What <c>ContainerRegistryTestRequire</c> asks for when it is not set.</summary>
    public static IReadOnlyList<string> DefaultRequired { get; } = [DockerManifestList, OciIndex];

    /// <summary>The capability named <paramref name="name"/> (case-insensitive), or null.</summary>
    public static RegistryCapability? Find(string name) =>
        All.FirstOrDefault(c => string.Equals(c.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));

    public static string Title(string name) => Find(name)?.Title ?? name;
}

/// <summary>The outcome of one capability: the state, one line saying what happened, and the registry's answer when it refused.</summary>
internal sealed record CapabilityResult(string Name, CapabilityState State, string Detail, RegistryAnswer? Answer = null)
{
    public string Title => RegistryCapabilities.Title(Name);

    /// <summary><c>supported</c>, <c>not supported</c> or <c>skipped</c>: the words of the table and the report.</summary>
    public string StateText => State switch
    {
        CapabilityState.Supported => "supported",
        CapabilityState.NotSupported => "not supported",
        _ => "skipped",
    };
}

/// <summary>Everything one run of the registry self-test found, as a build-log table and as a JSON report.</summary>
internal sealed record RegistryTestReport(
    ImageReference Repository,
    ImageReference SourceRepository,
    string RunId,
    DateTimeOffset Started,
    TimeSpan Elapsed,
    int Requests,
    IReadOnlyList<CapabilityResult> Capabilities,
    IReadOnlyList<string> Required,
    IReadOnlyList<string> LeftBehind,
    IReadOnlyList<string> FoundBefore,
    bool CleanupRequested)
{
    /// <summary>The required capabilities that are not supported (refused, or not checked).</summary>
    public IReadOnlyList<CapabilityResult> MissingRequired =>
        [.. Capabilities.Where(c => c.State != CapabilityState.Supported && Required.Contains(c.Name, StringComparer.Ordinal))];

    public bool Passed => MissingRequired.Count == 0;

    public CapabilityResult this[string name] => Capabilities.Single(c => c.Name == name);

    public int Count(CapabilityState state) => Capabilities.Count(c => c.State == state);

    /// <summary>The warning (<c>MULTIARCH</c> code and text) for what the cleanup asked for could not delete, or null.</summary>
    public (string Code, string Text)? LeftBehindWarning() =>
        CleanupRequested && LeftBehind.Count > 0 ? Messages.Format(MessageId.RegistryTestLeftBehind, LeftBehind.Count, Summarize(LeftBehind)) : null;

    /// <summary>The closing line: how many capabilities are supported, not supported and skipped, and where the report went.</summary>
    public string Summary(string? reportFile) =>
        Messages.Text(MessageId.Summary_RegistryTested, Repository.Name, Count(CapabilityState.Supported), Count(CapabilityState.NotSupported),
            Count(CapabilityState.Skipped), string.IsNullOrEmpty(reportFile) ? "not written" : Path.GetFullPath(reportFile));

    /// <summary>
    /// The table for the build log: a heading, one row per capability (required ones marked <c>*</c>), then what was
    /// left behind and what earlier runs left.
    /// </summary>
    public string FormatTable()
    {
        // The same columns in every report: wide enough for every capability's name and the required mark.
        var nameWidth = RegistryCapabilities.All.Select(c => c.Name).Concat(Capabilities.Select(c => c.Name)).Max(n => n.Length) + 2;
        var resultWidth = "not supported".Length;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Registry test of {Repository.Name}: run {RunId}, tags {RegistryCapabilityTester.RunTagPrefix(RunId)}..., {Requests} requests, {Elapsed.TotalSeconds:0.0} s\n");
        text.Append(CultureInfo.InvariantCulture, $"  {"Capability".PadRight(nameWidth)}  {"Result".PadRight(resultWidth)}  Details\n");
        foreach (var capability in Capabilities)
        {
            var name = Required.Contains(capability.Name, StringComparer.Ordinal) ? capability.Name + " *" : capability.Name;
            text.Append(CultureInfo.InvariantCulture, $"  {name.PadRight(nameWidth)}  {capability.StateText.PadRight(resultWidth)}  {capability.Detail}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"  * required (ContainerRegistryTestRequire): {(Required.Count == 0 ? "none" : string.Join(", ", Required))}\n");
        text.Append(LeftBehind.Count == 0
            ? "Left behind: nothing.\n"
            : $"Left behind ({LeftBehind.Count}{(CleanupRequested ? string.Empty : ", ContainerRegistryTestCleanup is false")}): {Summarize(LeftBehind)}\n");
        if (FoundBefore.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"Left by earlier runs ({FoundBefore.Count}): {string.Join(", ", FoundBefore)}\n");
        }

        return text.ToString().TrimEnd('\n');
    }

    /// <summary>
    /// References for a log line: every tag by name, and untagged manifests (<c>repository@digest</c>) counted per
    /// repository; the JSON report lists each.
    /// </summary>
    public static string Summarize(IReadOnlyList<string> references)
    {
        var tags = references.Where(r => !r.Contains('@', StringComparison.Ordinal));
        var untagged = references.Where(r => r.Contains('@', StringComparison.Ordinal))
            .GroupBy(r => r[..r.IndexOf('@', StringComparison.Ordinal)], StringComparer.Ordinal)
            .Select(g => $"{g.Count()} untagged {(g.Count() == 1 ? "manifest" : "manifests")} in {g.Key}");
        return string.Join(", ", tags.Concat(untagged));
    }

    /// <summary>The JSON report (indented UTF-8); the fields are documented in the README.</summary>
    public byte[] ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("repository", Repository.Name);
            json.WriteString("sourceRepository", SourceRepository.Name);
            json.WriteString("runId", RunId);
            json.WriteString("started", Started.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            json.WriteNumber("seconds", Math.Round(Elapsed.TotalSeconds, 3));
            json.WriteNumber("requests", Requests);
            json.WriteString("result", Passed ? "passed" : "failed");
            WriteStrings(json, "required", Required);
            json.WriteStartArray("capabilities");
            foreach (var capability in Capabilities)
            {
                json.WriteStartObject();
                json.WriteString("name", capability.Name);
                json.WriteString("title", capability.Title);
                json.WriteString("result", capability.StateText);
                json.WriteBoolean("required", Required.Contains(capability.Name, StringComparer.Ordinal));
                json.WriteString("detail", capability.Detail);
                if (capability.Answer is { } answer)
                {
                    json.WriteStartObject("answer");
                    json.WriteString("method", answer.Method);
                    json.WriteString("path", answer.Path);
                    json.WriteNumber("status", answer.Status);
                    WriteStrings(json, "errorCodes", answer.ErrorCodes);
                    if (answer.Message is not null)
                    {
                        json.WriteString("message", answer.Message);
                    }

                    json.WriteEndObject();
                }
                else
                {
                    json.WriteNull("answer");
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteBoolean("cleanup", CleanupRequested);
            WriteStrings(json, "leftBehind", LeftBehind);
            WriteStrings(json, "foundBefore", FoundBefore);
            json.WriteEndObject();
        }

        return stream.ToArray();
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }
}

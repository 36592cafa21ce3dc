using System.Text;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// Golden-file ("approval") assertions. <see cref="Verify(string, string)"/> compares text with
/// <c>testassets/golden/&lt;path&gt;</c>, byte for byte. On a mismatch it writes what it got to
/// <c>&lt;name&gt;.received.&lt;ext&gt;</c> beside the golden file (git-ignored) and fails with a diff of the first
/// differing lines. With <c>MULTIARCH_ACCEPT_GOLDEN=1</c> it overwrites the golden file instead: review the change
/// with <c>git diff</c> before committing it.
/// </summary>
internal static class Approvals
{
    public const string AcceptVariable = "MULTIARCH_ACCEPT_GOLDEN";

    private const int Context = 3;
    private const int MaxChangedLines = 20;

    private static readonly UTF8Encoding _utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public static string GoldenDirectory => Path.Combine(RepoPaths.TestAssets, "golden");

    /// <summary>Asserts that <paramref name="actual"/> equals the golden file <paramref name="goldenRelativePath"/> (use '/').</summary>
    public static void Verify(string actual, string goldenRelativePath) =>
        Verify(actual, GoldenDirectory, goldenRelativePath, Environment.GetEnvironmentVariable(AcceptVariable) == "1");

    /// <summary>The same, against any golden directory and with an explicit accept switch (what the helper's own tests use).</summary>
    public static void Verify(string actual, string goldenDirectory, string goldenRelativePath, bool accept)
    {
        ArgumentNullException.ThrowIfNull(actual);
        var goldenPath = Path.GetFullPath(Path.Combine(goldenDirectory, goldenRelativePath));
        var receivedPath = ReceivedPath(goldenPath);
        if (accept)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(goldenPath)!);
            File.WriteAllText(goldenPath, actual, _utf8);
            File.Delete(receivedPath);
            return;
        }

        string? expected = File.Exists(goldenPath) ? File.ReadAllText(goldenPath, _utf8) : null;
        if (string.Equals(expected, actual, StringComparison.Ordinal))
        {
            File.Delete(receivedPath);
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(receivedPath)!);
        File.WriteAllText(receivedPath, actual, _utf8);
        var message = new StringBuilder();
        message.Append("The output differs from the golden file ").Append(goldenRelativePath).Append('.').Append('\n');
        message.Append("Received: ").Append(receivedPath).Append('\n');
        message.Append("If the new output is right, rerun with ").Append(AcceptVariable).Append("=1 and review the golden file's git diff.").Append('\n');
        if (expected is null)
        {
            message.Append("The golden file does not exist yet.").Append('\n');
        }
        else
        {
            message.Append(Diff(expected, actual, goldenRelativePath));
        }

        Assert.Fail(message.ToString());
    }

    /// <summary><c>dir/name.ext</c> → <c>dir/name.received.ext</c>.</summary>
    public static string ReceivedPath(string goldenPath) =>
        Path.Combine(
            Path.GetDirectoryName(goldenPath) ?? string.Empty,
            Path.GetFileNameWithoutExtension(goldenPath) + ".received" + Path.GetExtension(goldenPath));

    /// <summary>
    /// One unified-diff hunk around the first difference: the lines between the common prefix and the common suffix,
    /// with <see cref="Context"/> lines either side. Carriage returns and tabs are shown as <c>\r</c> and <c>\t</c>.
    /// </summary>
    public static string Diff(string expected, string actual, string name)
    {
        var before = SplitLines(expected);
        var after = SplitLines(actual);
        var start = 0;
        while (start < before.Length && start < after.Length && before[start] == after[start])
        {
            start++;
        }

        var endBefore = before.Length;
        var endAfter = after.Length;
        while (endBefore > start && endAfter > start && before[endBefore - 1] == after[endAfter - 1])
        {
            endBefore--;
            endAfter--;
        }

        var first = Math.Max(0, start - Context);
        var lastBefore = Math.Min(before.Length, endBefore + Context);
        var lastAfter = Math.Min(after.Length, endAfter + Context);
        var diff = new StringBuilder();
        diff.Append("--- golden/").Append(name).Append('\n');
        diff.Append("+++ received/").Append(name).Append('\n');
        diff.Append("@@ -").Append(first + 1).Append(',').Append(lastBefore - first)
            .Append(" +").Append(first + 1).Append(',').Append(lastAfter - first).Append(" @@").Append('\n');
        AppendLines(diff, ' ', before, first, start);
        AppendLines(diff, '-', before, start, endBefore);
        AppendLines(diff, '+', after, start, endAfter);
        AppendLines(diff, ' ', before, endBefore, lastBefore);
        if (expected.EndsWith('\n') != actual.EndsWith('\n'))
        {
            diff.Append(expected.EndsWith('\n') ? "(the golden file ends with a newline, the output does not)" : "(the output ends with a newline, the golden file does not)").Append('\n');
        }

        return diff.ToString();
    }

    /// <summary>Lines without their "\n"; a final "\n" ends the last line rather than starting an empty one.</summary>
    private static string[] SplitLines(string text)
    {
        var lines = text.Split('\n');
        return lines.Length > 1 && lines[^1].Length == 0 ? lines[..^1] : lines;
    }

    private static void AppendLines(StringBuilder diff, char marker, string[] lines, int from, int to)
    {
        for (var i = from; i < to && i < from + MaxChangedLines; i++)
        {
            diff.Append(marker).Append(lines[i].Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal)).Append('\n');
        }

        if (to - from > MaxChangedLines)
        {
            diff.Append(marker).Append(" … ").Append(to - from - MaxChangedLines).Append(" more lines").Append('\n');
        }
    }
}

using System.Text.RegularExpressions;

namespace MultiArch.Build.Tasks.Tests.Cli;

/// <summary>
/// Compares an <c>inspect</c> text with a golden file by its layout: the name, digests and sizes of the images a test
/// made differ from the golden file's, everything else (spacing, order, labels, counts, blank lines) must not.
/// </summary>
internal static partial class CliLayout
{
    public static string Normalize(string text) =>
        Sizes().Replace(Digests().Replace(Name().Replace(text, "${label}NAME (Type:"), "sha256:DIGEST"), "${label}N");

    public static void AssertSameLayout(string golden, string actual, string what)
    {
        var expected = Normalize(golden);
        var normalized = Normalize(actual);
        Assert.AreEqual(expected, normalized, $"{what}: the layout differs from the golden file.\n--- golden (normalised)\n{expected}\n--- actual\n{actual}");
    }

    [GeneratedRegex(@"^(?<label>Name: +)\S+ \(Type:", RegexOptions.Multiline)]
    private static partial Regex Name();

    [GeneratedRegex("sha256:[0-9a-f]{64}")]
    private static partial Regex Digests();

    [GeneratedRegex(@"(?<label>(Length|Size): )\d+")]
    private static partial Regex Sizes();
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Unique names for things tests create in shared registries.</summary>
internal static class TestNames
{
    private static readonly string _run = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private static int _counter;

    /// <summary>
    /// A repository name unique to this call: <c>test/&lt;prefix&gt;-&lt;n&gt;-&lt;run id&gt;</c>, lower-case, valid in the
    /// distribution grammar (characters outside <c>[a-z0-9._-/]</c> become '-').
    /// </summary>
    public static string Repository(string prefix = "repo")
    {
        var n = Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture);
        return $"test/{Sanitize(prefix)}-{n}-{_run}";
    }

    /// <summary>A tag unique to this call, e.g. <c>t-7-1a2b3c</c>.</summary>
    public static string Tag(string prefix = "t")
    {
        var n = Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture);
        return $"{Sanitize(prefix)}-{n}-{_run}";
    }

    private static string Sanitize(string prefix)
    {
        var text = new StringBuilder();
        foreach (var c in prefix.ToLowerInvariant())
        {
            var valid = c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
            if (valid)
            {
                text.Append(c);
            }
            else if (text.Length > 0 && text[^1] != '-')
            {
                text.Append('-'); // separators never repeat or lead
            }
        }

        var result = text.ToString().Trim('-');
        return result.Length == 0 ? "repo" : result.Length > 40 ? result[..40].TrimEnd('-') : result;
    }
}

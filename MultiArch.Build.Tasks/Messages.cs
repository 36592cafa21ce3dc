using System.Globalization;
using System.Resources;

namespace MultiArch.Build.Tasks;

/// <summary>
/// Reads user-facing messages from <c>Resources/Strings.resx</c>. Every error message there starts with its
/// <c>MULTIARCH####: </c> code; <see cref="Format"/> splits the code from the text.
/// </summary>
internal static class Messages
{
    private static readonly ResourceManager s_resources =
        new("MultiArch.Build.Tasks.Resources.Strings", typeof(Messages).Assembly);

    public const string CodePrefix = "MULTIARCH";

    public static string Get(string id) =>
        s_resources.GetString(id, CultureInfo.InvariantCulture)
        ?? throw new InvalidOperationException($"Message '{id}' is missing from Strings.resx.");

    /// <summary>Formats a message; returns its code (empty for plain messages) and its text without the code.</summary>
    public static (string Code, string Text) Format(string id, params object?[] args)
    {
        var template = Get(id);
        var text = args.Length == 0 ? template : string.Format(CultureInfo.InvariantCulture, template, args);
        if (text.StartsWith(CodePrefix, StringComparison.Ordinal))
        {
            var colon = text.IndexOf(": ", StringComparison.Ordinal);
            if (colon > 0)
            {
                return (text[..colon], text[(colon + 2)..]);
            }
        }

        return (string.Empty, text);
    }

    public static string Text(string id, params object?[] args) => Format(id, args).Text;
}

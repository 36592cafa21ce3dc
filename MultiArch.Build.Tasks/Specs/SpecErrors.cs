using System.Text;

namespace MultiArch.Build.Tasks.Specs;

/// <summary>Creates the coded MULTIARCH3xxx exceptions of the spec reader, each citing file, line and column.</summary>
internal static class SpecErrors
{
    private const int MaxDisplayLength = 80;

    public static MultiArchException NotFound(string file) =>
        MultiArchException.Create(MessageId.SpecNotFound, file).At(file);

    public static MultiArchException Unreadable(string file, Exception inner) =>
        MultiArchException.Create(inner, MessageId.SpecUnreadable, file, inner.Message).At(file);

    public static MultiArchException Syntax(SpecLocation at, string detail) =>
        MultiArchException.Create(MessageId.SpecSyntax, at.File, at.Line, at.Column, detail).At(at.File, at.Line, at.Column);

    public static MultiArchException Syntax(SpecLocation at, Exception inner, string detail) =>
        MultiArchException.Create(inner, MessageId.SpecSyntax, at.File, at.Line, at.Column, detail).At(at.File, at.Line, at.Column);

    public static MultiArchException UnknownKey(SpecLocation at, string key, string where, string knownKeys) =>
        MultiArchException.Create(MessageId.SpecUnknownKey, at.File, at.Line, at.Column, Display(key), where, knownKeys).At(at.File, at.Line, at.Column);

    /// <summary>'<paramref name="what"/>' must be <paramref name="expected"/>, not (what <paramref name="found"/> is).</summary>
    public static MultiArchException WrongType(string what, string expected, SpecNode found) =>
        MultiArchException.Create(MessageId.SpecWrongType, found.Location.File, found.Location.Line, found.Location.Column,
            what, $"{expected}, not {found.Describe()}").At(found.Location.File, found.Location.Line, found.Location.Column);

    public static MultiArchException MissingKey(SpecLocation at, string what) =>
        MultiArchException.Create(MessageId.SpecMissingKey, at.File, at.Line, at.Column, what).At(at.File, at.Line, at.Column);

    /// <summary>A size limit: the whole file (no position), or a depth or node budget at a position.</summary>
    public static MultiArchException TooLarge(string file, string detail) =>
        MultiArchException.Create(MessageId.SpecTooLarge, file, detail).At(file);

    /// <summary>
    /// A limit reached at a known place. SpecTooLarge's first argument is the file; giving it <c>file(line,col)</c>
    /// yields the same clickable prefix as the other spec messages.
    /// </summary>
    public static MultiArchException TooLarge(SpecLocation at, string detail) =>
        MultiArchException.Create(MessageId.SpecTooLarge, at.ToString(), detail).At(at.File, at.Line, at.Column);

    public static MultiArchException Invalid(SpecLocation at, string detail) =>
        MultiArchException.Create(MessageId.SpecInvalidValue, at.File, at.Line, at.Column, detail).At(at.File, at.Line, at.Column);

    /// <summary>
    /// A user's value made safe for a one-line message: control characters escaped, long values cut.
    /// The caller adds the quotes.
    /// </summary>
    public static string Display(string value)
    {
        var text = new StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (text.Length >= MaxDisplayLength)
            {
                text.Append('…');
                break;
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                text.Append(c).Append(value[i + 1]);
                i++;
                continue;
            }

            switch (c)
            {
                case '\n':
                    text.Append("\\n");
                    break;
                case '\r':
                    text.Append("\\r");
                    break;
                case '\t':
                    text.Append("\\t");
                    break;
                default:
                    if (char.IsControl(c) || char.IsSurrogate(c) || c is '\uFEFF' or '\uFFFE' or '\uFFFF' or '\u2028' or '\u2029')
                    {
                        text.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        return text.ToString();
    }
}

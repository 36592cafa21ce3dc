using System.Globalization;
using System.Text;

namespace MultiArch.Build.Tasks.Oci;

/// <summary>
/// Writes JSON the way Go's <c>json.MarshalIndent(v, "", "  ")</c> does: two-space indent, <c>": "</c>, no trailing
/// newline, and <c>&lt; &gt; &amp;</c> escaped as <c>\u003c \u003e \u0026</c>. The bytes are the same on every
/// machine, so the same input always gives the same digest — and the same digest manifest-tool gives.
/// </summary>
internal sealed class GoJsonWriter
{
    private readonly StringBuilder _text = new();
    private readonly Stack<bool> _hasItems = new();
    private bool _afterName;

    public void StartObject() => Open('{');

    public void EndObject() => Close('}');

    public void StartArray() => Open('[');

    public void EndArray() => Close(']');

    public void Name(string name)
    {
        Separator();
        WriteString(name);
        _text.Append(": ");
        _afterName = true;
    }

    public void String(string value)
    {
        Separator();
        WriteString(value);
    }

    public void Number(long value)
    {
        Separator();
        _text.Append(value.ToString(CultureInfo.InvariantCulture));
    }

    public void Boolean(bool value)
    {
        Separator();
        _text.Append(value ? "true" : "false");
    }

    public void Property(string name, string value)
    {
        Name(name);
        String(value);
    }

    public void Property(string name, long value)
    {
        Name(name);
        Number(value);
    }

    public void Property(string name, bool value)
    {
        Name(name);
        Boolean(value);
    }

    public void StringArray(string name, IEnumerable<string> values)
    {
        Name(name);
        StartArray();
        foreach (var value in values)
        {
            String(value);
        }

        EndArray();
    }

    public void StringMap(string name, IEnumerable<KeyValuePair<string, string>> values)
    {
        Name(name);
        StartObject();
        foreach (var pair in values.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Property(pair.Key, pair.Value);
        }

        EndObject();
    }

    public byte[] ToBytes() => Encoding.UTF8.GetBytes(_text.ToString());

    public override string ToString() => _text.ToString();

    private void Open(char bracket)
    {
        Separator();
        _text.Append(bracket);
        _hasItems.Push(false);
    }

    private void Close(char bracket)
    {
        var hadItems = _hasItems.Pop();
        if (hadItems)
        {
            NewLine(_hasItems.Count);
        }

        _text.Append(bracket);
    }

    private void Separator()
    {
        if (_afterName)
        {
            _afterName = false;
            return;
        }

        if (_hasItems.Count == 0)
        {
            return;
        }

        if (_hasItems.Peek())
        {
            _text.Append(',');
        }
        else
        {
            _hasItems.Pop();
            _hasItems.Push(true);
        }

        NewLine(_hasItems.Count);
    }

    private void NewLine(int depth)
    {
        _text.Append('\n');
        _text.Append(' ', depth * 2);
    }

    private void WriteString(string value)
    {
        _text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': _text.Append("\\\""); break;
                case '\\': _text.Append("\\\\"); break;
                case '\n': _text.Append("\\n"); break;
                case '\r': _text.Append("\\r"); break;
                case '\t': _text.Append("\\t"); break;
                case '<' or '>' or '&' or '\u2028' or '\u2029':
                    _text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    if (c < 0x20)
                    {
                        _text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        _text.Append(c);
                    }

                    break;
            }
        }

        _text.Append('"');
    }
}

/*
 * render.cc — render.h over kainjow's mustache.hpp (Debian
 * libkainjow-mustache-dev): JSON -> mustache data, the escape per mode,
 * and the check of a template's names against the sample of every
 * placeholder. The only C++ in conveyor; no exception leaves it.
 */
#include "services/notification/render.h"

#include <kainjow/mustache.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

namespace {

using kainjow::mustache::data;
using kainjow::mustache::mustache;

data from_json(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT: {
        data object{data::type::object};
        const char *key;
        json_t *item;
        json_object_foreach(const_cast<json_t *>(value), key, item) object.set(key, from_json(item));
        return object;
    }
    case JSON_ARRAY: {
        data list{data::type::list};
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item) list.push_back(from_json(item));
        return list;
    }
    case JSON_STRING:
        if (json_string_length(value) == 0)
            return data{false}; /* "" hides its section and renders nothing */
        return data{std::string(json_string_value(value), json_string_length(value))};
    case JSON_INTEGER:
        return data{std::to_string(static_cast<long long>(json_integer_value(value)))};
    case JSON_REAL: {
        char text[64];
        std::snprintf(text, sizeof text, "%g", json_real_value(value));
        return data{std::string(text)};
    }
    case JSON_TRUE:
        return data{true};
    default:
        return data{false};
    }
}

void set_why(char *why, const std::string &text)
{
    std::snprintf(why, RENDER_WHY_SIZE, "%s", text.c_str());
}

/* A context that remembers every name it could not find. */
class checking_context : public kainjow::mustache::basic_context<std::string> {
  public:
    explicit checking_context(const data *root) : inner_(root) {}
    void push(const data *item) override { inner_.push(item); }
    void pop() override { inner_.pop(); }
    const data *get(const std::string &name) const override
    {
        const data *found = inner_.get(name);
        if (!found)
            missing.insert(name);
        return found;
    }
    const data *get_partial(const std::string &name) const override
    {
        missing.insert(">" + name); /* no partials are provided */
        return nullptr;
    }
    mutable std::set<std::string> missing;

  private:
    kainjow::mustache::context<std::string> inner_;
};

std::string identity(const std::string &text)
{
    return text;
}

} // namespace

extern "C" int render_template(const char *tmpl, const json_t *json, render_mode_t mode,
                               char **out_take, char why[RENDER_WHY_SIZE])
{
    *out_take = nullptr;
    try {
        mustache compiled{std::string(tmpl ? tmpl : "")};
        if (!compiled.is_valid()) {
            set_why(why, compiled.error_message());
            return -1;
        }
        if (mode == RENDER_TEXT)
            compiled.set_custom_escape(identity);
        data root = from_json(json);
        std::string text = compiled.render(root);
        if (!compiled.is_valid()) {
            set_why(why, compiled.error_message());
            return -1;
        }
        if (text.size() > RENDER_OUT_MAX) {
            set_why(why, "the rendered message is over " + std::to_string(RENDER_OUT_MAX) +
                             " bytes");
            return -1;
        }
        char *out = static_cast<char *>(std::malloc(text.size() + 1));
        if (!out) {
            set_why(why, "out of memory");
            return -1;
        }
        std::memcpy(out, text.c_str(), text.size() + 1);
        *out_take = out;
        return 0;
    } catch (const std::exception &e) {
        set_why(why, std::string("render failed: ") + e.what());
        return -1;
    } catch (...) {
        set_why(why, "render failed");
        return -1;
    }
}

extern "C" int render_check(const char *tmpl, char why[RENDER_WHY_SIZE])
{
    try {
        mustache compiled{std::string(tmpl ? tmpl : "")};
        if (!compiled.is_valid()) {
            set_why(why, compiled.error_message());
            return -1;
        }
        compiled.set_custom_escape(identity);
        std::set<std::string> missing;
        for (int truthy = 1; truthy >= 0; truthy--) {
            json_t *sample = render_sample(truthy != 0);
            if (!sample) {
                set_why(why, "out of memory");
                return -1;
            }
            data root = from_json(sample);
            json_decref(sample);
            checking_context ctx{&root};
            compiled.render(ctx);
            if (!compiled.is_valid()) {
                set_why(why, compiled.error_message());
                return -1;
            }
            missing.insert(ctx.missing.begin(), ctx.missing.end());
        }
        if (!missing.empty()) {
            std::string names;
            for (const auto &name : missing)
                names += (names.empty() ? "" : ", ") + name;
            set_why(why, "unknown placeholder: " + names);
            return -1;
        }
        return 0;
    } catch (const std::exception &e) {
        set_why(why, std::string("check failed: ") + e.what());
        return -1;
    } catch (...) {
        set_why(why, "check failed");
        return -1;
    }
}
